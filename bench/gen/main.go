// Command gen makes the benchmark's generated inputs (stdlib only):
//
//	gen targets -template F -url U -prefix P -n N [-header "K: V"]...
//	    vegeta JSON targets (one a line), each with the template's {{PAN}}
//	    replaced by a distinct Luhn-valid 16-digit Visa PAN.
//	gen bigbody -cards N -prefix P
//	    a JSON body with N cards (about 1 KiB per card, so 1,000 cards make
//	    about 1 MiB), each with a distinct Luhn-valid PAN, on stdout.
//
// PANs are "4" + PREFIX (5 digits, handed out by bench/run so that every
// generator and wrk run of one benchmark uses its own range) + a 9-digit
// counter + the Luhn check digit.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tokengate/tokengate/card"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "targets":
		err = targets(os.Args[2:])
	case "bigbody":
		err = bigBody(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gen targets -template F -url U -prefix P -n N [-header 'K: V']... | gen bigbody -cards N -prefix P")
	os.Exit(2)
}

func pan(prefix string, n int) string {
	digits := fmt.Sprintf("4%s%09d", prefix, n)
	return digits + string(card.LuhnDigit(digits))
}

func checkPrefix(p string) error {
	if len(p) != 5 || strings.Trim(p, "0123456789") != "" {
		return fmt.Errorf("prefix %q: want 5 digits", p)
	}
	return nil
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// target is vegeta's JSON target format.
type target struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Body   string              `json:"body"`
	Header map[string][]string `json:"header"`
}

func targets(args []string) error {
	fs := flag.NewFlagSet("targets", flag.ExitOnError)
	tmpl := fs.String("template", "", "body template with a {{PAN}} placeholder")
	url := fs.String("url", "", "target URL")
	prefix := fs.String("prefix", "", "5-digit PAN prefix for this file")
	n := fs.Int("n", 1000, "number of targets (distinct PANs)")
	var headers headerFlags
	fs.Var(&headers, "header", "a request header 'Name: value' (repeatable)")
	_ = fs.Parse(args)
	if err := checkPrefix(*prefix); err != nil {
		return err
	}
	if *url == "" || *n < 1 || *n > 1e9 {
		return fmt.Errorf("want -url and 1 <= -n <= 1e9")
	}
	raw, err := os.ReadFile(*tmpl)
	if err != nil {
		return err
	}
	head, tail, ok := bytes.Cut(raw, []byte("{{PAN}}"))
	if !ok {
		return fmt.Errorf("%s has no {{PAN}} placeholder", *tmpl)
	}
	hdr := map[string][]string{}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("header %q: want 'Name: value'", h)
		}
		hdr[strings.TrimSpace(k)] = append(hdr[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	var b bytes.Buffer
	for i := 1; i <= *n; i++ {
		b.Reset()
		b.Write(head)
		b.WriteString(pan(*prefix, i))
		b.Write(tail)
		t := target{Method: "POST", URL: *url, Body: base64.StdEncoding.EncodeToString(b.Bytes()), Header: hdr}
		if err := enc.Encode(t); err != nil {
			return err
		}
	}
	return w.Flush()
}

// bigCard is one entry of the big body. Note pads each entry to about 1 KiB,
// as line items, addresses and metadata would in a real batch.
type bigCard struct {
	Reference string `json:"reference"`
	Number    string `json:"number"`
	ExpMonth  string `json:"exp_month"`
	ExpYear   string `json:"exp_year"`
	CVC       string `json:"cvc"`
	Name      string `json:"name"`
	Note      string `json:"note"`
}

func bigBody(args []string) error {
	fs := flag.NewFlagSet("bigbody", flag.ExitOnError)
	cards := fs.Int("cards", 1000, "number of cards")
	prefix := fs.String("prefix", "", "5-digit PAN prefix for this body")
	_ = fs.Parse(args)
	if err := checkPrefix(*prefix); err != nil {
		return err
	}
	if *cards < 1 || *cards > 100000 {
		return fmt.Errorf("-cards: want 1 to 100000")
	}
	note := strings.Repeat("lorem ipsum dolor sit amet ", 40)[:900]
	doc := struct {
		BatchID string    `json:"batch_id"`
		Cards   []bigCard `json:"cards"`
	}{BatchID: "batch_" + *prefix}
	for i := 1; i <= *cards; i++ {
		doc.Cards = append(doc.Cards, bigCard{
			Reference: fmt.Sprintf("ref_%s_%06d", *prefix, i),
			Number:    pan(*prefix, i),
			ExpMonth:  fmt.Sprintf("%02d", 1+i%12),
			ExpYear:   "2031",
			CVC:       fmt.Sprintf("%03d", i%1000),
			Name:      fmt.Sprintf("Cardholder %06d", i),
			Note:      note,
		})
	}
	w := bufio.NewWriter(os.Stdout)
	if err := json.NewEncoder(w).Encode(doc); err != nil {
		return err
	}
	return w.Flush()
}
