package pgaudit

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

var key = bytes.Repeat([]byte{9}, 32)

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := Connect(context.Background(), vaulttest.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func write(t *testing.T, p *pgxpool.Pool, gateway string, n int) {
	t.Helper()
	c, err := OpenChain(context.Background(), p, gateway, audit.Options{Key: key, Every: 10, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := c.Record(context.Background(), audit.Entry{Action: audit.ActionDetokenize, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func problem(t *testing.T, p *pgxpool.Pool, gateway string) *audit.VerifyError {
	t.Helper()
	_, err := Verify(context.Background(), p, gateway, key)
	var ve *audit.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("want a VerifyError, got %v", err)
	}
	t.Logf("verify: %v", ve)
	return ve
}

func TestPostgresChain(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	write(t, p, "gw1", 25)
	write(t, p, "gw2", 3)
	write(t, p, "gw1", 5) // continues
	rep, err := Verify(ctx, p, "gw1", key)
	if err != nil || rep.Entries != 35 || rep.First != 1 || !rep.HeadChecked {
		t.Fatalf("%+v %v", rep, err)
	}
	if rep, err := Verify(ctx, p, "gw2", key); err != nil || rep.Entries != 5 {
		t.Fatalf("gw2: %+v %v", rep, err)
	}
	var out bytes.Buffer
	if n, err := Search(ctx, p, "gw1", audit.Filter{Action: audit.ActionCheckpoint}, &out); err != nil || n != 5 {
		t.Fatalf("search: %d %v", n, err)
	}

	// Edited.
	if _, err := p.Exec(ctx, `UPDATE tokengate_audit SET entry = replace(entry, '"acme"', '"evil"') WHERE gateway = 'gw1' AND seq = 5`); err != nil {
		t.Fatal(err)
	}
	if ve := problem(t, p, "gw1"); ve.Problem != audit.ProblemChanged || ve.Seq != 5 {
		t.Fatalf("%+v", ve)
	}
	// A gateway refuses to continue it.
	if _, err := OpenChain(ctx, p, "gw1", audit.Options{Key: key}); err == nil || !strings.Contains(err.Error(), "seq 5") {
		t.Fatalf("open: %v", err)
	}
	var te *audit.TailError
	if _, err := OpenChain(ctx, p, "gw1", audit.Options{Key: key}); !errors.As(err, &te) {
		t.Fatalf("open: %v", err)
	}

	// Removed.
	if _, err := p.Exec(ctx, `DELETE FROM tokengate_audit WHERE gateway = 'gw2' AND seq = 3`); err != nil {
		t.Fatal(err)
	}
	if ve := problem(t, p, "gw2"); ve.Problem != audit.ProblemRemoved || ve.Seq != 4 {
		t.Fatalf("%+v", ve)
	}

	// Cut at the tail: shorter than the head.
	write(t, p, "gw3", 15)
	if _, err := p.Exec(ctx, `DELETE FROM tokengate_audit WHERE gateway = 'gw3' AND seq > 12`); err != nil {
		t.Fatal(err)
	}
	if ve := problem(t, p, "gw3"); ve.Problem != audit.ProblemTruncated {
		t.Fatalf("%+v", ve)
	}
}

// Two writers under one gateway name: the second's entry is refused, not
// forked.
func TestPostgresSameGatewayTwice(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	a, err := OpenChain(ctx, p, "gw", audit.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenChain(ctx, p, "gw", audit.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Record(ctx, audit.Entry{Action: audit.ActionReveal}); err != nil {
		t.Fatal(err)
	}
	if err := b.Record(ctx, audit.Entry{Action: audit.ActionReveal}); err == nil || !strings.Contains(err.Error(), "another gateway") {
		t.Fatalf("second writer: %v", err)
	}
}

// Concurrent Records share INSERTs (group commit): the chain verifies
// with every entry once; a batch whose seqs are taken is refused whole.
func TestPostgresGroupCommit(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	c, err := OpenChain(ctx, p, "gwb", audit.Options{Key: key, Every: 7, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if err := c.Record(ctx, audit.Entry{Action: audit.ActionDetokenize, Tenant: "acme <&> é"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, p, "gwb", key)
	if err != nil || rep.Entries-rep.Checkpoints != workers*each {
		t.Fatalf("%+v %v", rep, err)
	}

	s, _, err := Open(ctx, p, "gwb", key)
	if err != nil {
		t.Fatal(err)
	}
	next := func(seq uint64) []byte {
		return []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `,"action":"reveal"}`)
	}
	// One seq of the batch is written already: none of it is.
	if n, err := s.AppendBatch(ctx, [][]byte{next(rep.Last + 1), next(rep.Last)}); n != 0 || err == nil || !strings.Contains(err.Error(), "another gateway") {
		t.Fatalf("%d %v", n, err)
	}
	var rows int
	if err := p.QueryRow(ctx, `SELECT count(*) FROM tokengate_audit WHERE gateway = 'gwb' AND seq > $1`, int64(rep.Last)).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows after the refused batch: %v", rows, err)
	}
	// A batch written already (an answer lost) counts as written.
	batch := [][]byte{next(rep.Last + 1), next(rep.Last + 2)}
	if n, err := s.AppendBatch(ctx, batch); n != 2 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	if n, err := s.AppendBatch(ctx, batch); n != 2 || err != nil {
		t.Fatalf("again: %d %v", n, err)
	}
}

// BenchmarkChainRecordPostgres: Record of a detokenize entry into
// PostgreSQL from concurrent requests.
func BenchmarkChainRecordPostgres(b *testing.B) {
	p, err := Connect(context.Background(), vaulttest.PostgresDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	c, err := OpenChain(ctx, p, "bench", audit.Options{Key: key, Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := audit.Entry{Action: audit.ActionDetokenize, Outcome: audit.OutcomeOK, Tenant: "acme", APIKey: "3f2a9c1be07d", RuleSet: "stripe_charges",
				Destination: "api.stripe.com", RequestID: "5b3c9f2e-8a41-4d7b-9c6e-0123456789ab", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
				Tokens: []audit.TokenUse{{Token: "tok_4cU7XyZb9QmP2kLw8RtN", Field: "card.number", Became: "network_token"}}}
			if err := c.Record(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
