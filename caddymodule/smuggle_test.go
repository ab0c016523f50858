package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestOversizedBodyCannotSmuggle: the gateway answers 413 before reading an
// oversized body to its end. If the connection stayed open, the unread rest
// would be parsed as the next request, so a request hidden at the end of the
// body would run without passing tokenize. Only the 413 may come back.
func TestOversizedBodyCannotSmuggle(t *testing.T) {
	g := startGateway(t, "")
	hidden := "POST /checkout HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nSMUGGLED"
	// Fill with newline-separated lines so that wherever reading stops, the
	// parser could resync at a line start and reach the hidden request.
	pad := bytes.Repeat([]byte("x-pad: y\r\n"), (11<<20)/10)
	payload := append(pad, hidden...)
	conn, err := net.Dial("tcp", g.addr("127.0.0.1:9080"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		fmt.Fprintf(conn, "POST /checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(payload))
		_, _ = conn.Write(payload)
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, _ := io.ReadAll(conn)
	if n := strings.Count(string(got), "HTTP/1.1 "); n != 1 || !strings.HasPrefix(string(got), "HTTP/1.1 413") {
		t.Fatalf("want exactly one 413 response, got %d responses: %.300q", n, got)
	}
	if strings.Contains(string(got), "SMUGGLED") {
		t.Fatal("the hidden request was served")
	}
}

// TestSlowBodyTimesOut: a body trickled a byte at a time gets 408 once the
// body read timeout has passed, and the connection is closed. The body
// never completes (it trickles for some 5 s, short of its length), so the
// answer can only be the timeout's, however slow the machine: no bound on
// how soon it comes.
func TestSlowBodyTimesOut(t *testing.T) {
	g := startGateway(t, "body_read_timeout 300ms")
	conn, err := net.Dial("tcp", g.addr("127.0.0.1:9080"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	stop := make(chan struct{})
	go func() {
		for i := 0; i < 98; i++ { // short of the 100 bytes announced
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				_, _ = conn.Write([]byte(" "))
			}
		}
	}()
	defer close(stop)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(got), "HTTP/1.1 408") || !strings.Contains(string(got), "body_timeout") {
		t.Fatalf("got %.300q", got)
	}
}
