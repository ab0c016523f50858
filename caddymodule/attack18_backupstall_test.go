package caddymodule

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// padVault makes a bbolt file at path whose pages reach just below
// 16 MiB: bbolt maps the file in powers of two, so a few more commits make
// a writer grow the map, which waits for every read transaction to end
// (bbolt db.go, mmap takes mmaplock, which each read transaction holds).
func padVault(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	const target = 16<<20 - 1<<20
	val := make([]byte, 128<<10)
	for i := 0; ; i++ {
		var size int64
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("padding"))
			if err != nil {
				return err
			}
			size = tx.Size()
			if size >= target {
				return nil
			}
			return b.Put(fmt.Appendf(nil, "%08d", i), val)
		})
		if err != nil {
			t.Fatal(err)
		}
		if size >= target {
			// bbolt grew the file ahead (AllocSize); cut it back to the
			// pages in use, so the gateway maps it at 16 MiB.
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestAttackBackupStalledClient: a client of GET /tokengate/backup that
// stops reading (`curl localhost:2019/tokengate/backup | less` left open,
// a hung backup script, anyone who can reach the admin endpoint) held the
// backup's read transaction open for as long as it kept the connection:
// Caddy's admin server has no write timeout. Meanwhile bbolt reuses no page
// freed after it began, and the first write that must grow the memory map
// waits for it: tokenize stalled for every merchant until the client went
// away.
func TestAttackBackupStalledClient(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 16 MiB vault")
	}
	defer func(d time.Duration) { backupWriteStall = d }(backupWriteStall)
	backupWriteStall = time.Second
	g := &gateway{t: t, dir: t.TempDir()}
	padVault(t, filepath.Join(g.dir, "vault.db"))
	if fi, err := os.Stat(filepath.Join(g.dir, "vault.db")); err == nil {
		t.Logf("padded vault file %d bytes", fi.Size())
	}
	g.start("", defaultSites)

	admin := g.addr("localhost:2999")
	// A small receive buffer set before connecting, so the kernel does
	// not take in the whole copy on the client's behalf.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", backupPath, admin)
	status, err := bufio.NewReaderSize(conn, 4096).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("backup: %q %v", status, err)
	}
	// The client reads no more.

	done := make(chan int, 1)
	go func() {
		for i := range 400 {
			if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(1000+i))); r.status != http.StatusOK {
				t.Errorf("tokenize %d: %d %s", i, r.status, r.body)
				break
			}
		}
		done <- 1
	}()
	select {
	case <-done:
		fi, _ := os.Stat(filepath.Join(g.dir, "vault.db"))
		n, _ := conn.Read(make([]byte, 10))
		t.Logf("vault file %d bytes; read %d more", fi.Size(), n)
	case <-time.After(20 * time.Second):
		conn.Close() // lets the backup end, and the stalled writes with it
		<-done
		t.Fatal("tokenize stalled behind a backup client that stopped reading")
	}
}
