package cvvredis_test

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// cutAfterSetProxy forwards to Redis; the first SET it sees is forwarded,
// then hook runs, then the connection is cut before the SET's reply.
func cutAfterSetProxy(t *testing.T, hook func()) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var cut atomic.Bool
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				r, err := net.Dial("tcp", "127.0.0.1:6379")
				if err != nil {
					c.Close()
					return
				}
				var once sync.Once
				closeBoth := func() { once.Do(func() { c.Close(); r.Close() }) }
				var drop atomic.Bool
				go func() {
					b := make([]byte, 64<<10)
					for {
						n, err := r.Read(b)
						if n > 0 && !drop.Load() {
							c.Write(b[:n])
						}
						if err != nil {
							closeBoth()
							return
						}
					}
				}()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						isSet := !cut.Load() && containsSet(buf[:n])
						if isSet {
							drop.Store(true)
						}
						r.Write(buf[:n])
						if isSet {
							cut.Store(true)
							time.Sleep(50 * time.Millisecond) // SET applied
							hook()
							// RST: the client sees ECONNRESET or EOF
							if tc, ok := c.(*net.TCPConn); ok {
								tc.SetLinger(0)
							}
							closeBoth()
							return
						}
					}
					if err != nil {
						closeBoth()
						return
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

func containsSet(b []byte) bool {
	for i := 0; i+7 <= len(b); i++ {
		if string(b[i:i+7]) == "\r\nset\r\n" || string(b[i:i+7]) == "\r\nSET\r\n" {
			return true
		}
	}
	return false
}

// TestKnownRetriedSetResurrectsTakenCVV shows a known risk, not a
// regression (the batcher before its own connection did the same, through
// go-redis's pipeline retry): a SET that landed but whose reply was lost is
// sent again, and when the CVV was taken (GETDEL) in between, the retry
// puts it back, to be taken a second time. It needs a take of the token
// while its put is still in flight (a repeat card's token, used at once).
// Skipped unless TOKENGATE_SHOW_KNOWN=1.
func TestKnownRetriedSetResurrectsTakenCVV(t *testing.T) {
	if os.Getenv("TOKENGATE_SHOW_KNOWN") != "1" {
		t.Skip("a known risk, shown with TOKENGATE_SHOW_KNOWN=1")
	}
	ks := vaulttest.Keys(t)
	p := prefix()
	direct := cvvredis.New(client(t), ks, p)
	var took string
	var tookOK bool
	addr := cutAfterSetProxy(t, func() {
		took, tookOK, _ = direct.TakeCVV(context.Background(), "acme", "tok_1")
	})
	c := redis.NewClient(cvvredis.Options(addr, "", 0))
	t.Cleanup(func() { c.Close() })
	s := cvvredis.New(c, ks, p)
	err := s.PutCVV(context.Background(), "acme", "tok_1", "123", time.Minute)
	t.Logf("put: %v; taken meanwhile: %v", err, tookOK && took != "")
	got, ok, err2 := direct.TakeCVV(context.Background(), "acme", "tok_1")
	t.Logf("taken again after the put: %v %v", ok && got != "", err2)
	if tookOK && ok {
		t.Errorf("the CVV was taken twice")
	}
}
