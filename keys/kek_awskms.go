package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// AWSKMSPrefix starts an AWS KMS key URI, Tink's form:
// aws-kms://arn:aws:kms:<region>:<account>:key/<id>.
const AWSKMSPrefix = "aws-kms://"

// DefaultKMSTimeout bounds one call to a KMS when AWSKMS.Timeout is zero.
const DefaultKMSTimeout = 10 * time.Second

// AWSKMS is a key-encrypting key that never leaves AWS KMS (or a service
// that speaks its API): the keyset is wrapped by the KMS key with Tink's
// AWS KMS integration (kms:Encrypt when a keyset is written, kms:Decrypt
// when it is loaded, the keyset's role as the encryption context), so
// whoever reads the keyset file also needs the right to use that key, and
// every use shows in CloudTrail. Credentials come from the AWS SDK's
// default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile,
// an instance or task role, web identity).
type AWSKMS struct {
	// KeyURI is aws-kms://arn:aws:kms:<region>:<account>:key/<id> (an
	// alias ARN works too).
	KeyURI string
	// Region is the key's region; empty takes it from the ARN.
	Region string
	// Endpoint replaces the KMS endpoint: a VPC endpoint, or local-kms in
	// tests (http://127.0.0.1:8080).
	Endpoint string
	// Timeout bounds each call to the KMS (DefaultKMSTimeout when 0).
	Timeout time.Duration
}

// Check validates the settings without calling anything.
func (s AWSKMS) Check() error {
	_, _, err := s.parse()
	if err == nil && s.Endpoint != "" {
		u, perr := url.Parse(s.Endpoint)
		switch {
		case perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			err = fmt.Errorf("keys: AWS KMS endpoint %q: want an http(s) URL", s.Endpoint)
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			// KMS Decrypt answers with the keyset's plaintext.
			err = fmt.Errorf("keys: AWS KMS endpoint %q: https is required off this machine (the KMS answers with the keyset in clear)", s.Endpoint)
		}
	}
	if err == nil && s.Timeout < 0 {
		err = errors.New("keys: AWS KMS timeout must not be negative")
	}
	return err
}

// parse returns the key id (the URI without its prefix) and the region.
func (s AWSKMS) parse() (keyID, region string, err error) {
	if !strings.HasPrefix(s.KeyURI, AWSKMSPrefix) {
		return "", "", fmt.Errorf("keys: AWS KMS key_uri %q: want %sarn:aws:kms:<region>:<account>:key/<id>", s.KeyURI, AWSKMSPrefix)
	}
	keyID = strings.TrimPrefix(s.KeyURI, AWSKMSPrefix)
	region = s.Region
	if region == "" {
		// arn:<partition>:kms:<region>:<account>:key/<id>
		if p := strings.Split(keyID, ":"); len(p) >= 6 && p[0] == "arn" && p[2] == "kms" && p[3] != "" {
			region = p[3]
		}
	}
	if keyID == "" || region == "" {
		return "", "", fmt.Errorf("keys: AWS KMS key_uri %q names no region: use a key ARN, or set the region", s.KeyURI)
	}
	return keyID, region, nil
}

// KEK builds the AEAD on the KMS key. It calls nothing yet: the KMS is
// called when the keyset is unwrapped or wrapped, each call bounded by
// Timeout (and by ctx).
func (s AWSKMS) KEK(ctx context.Context) (tink.AEAD, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	keyID, region, _ := s.parse()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("keys: AWS KMS key %s: AWS configuration: %w", s.KeyURI, err)
	}
	client := kms.NewFromConfig(cfg, func(o *kms.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	})
	a, err := awskms.NewAEADWithContext(ctx, keyID, awskms.WithKMS(client))
	if err != nil {
		return nil, fmt.Errorf("keys: AWS KMS key %s: %w", s.KeyURI, err)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultKMSTimeout
	}
	return &remoteAEAD{ctx: ctx, aead: a, uri: s.KeyURI, timeout: timeout}, nil
}

func (s AWSKMS) String() string { return "AWS KMS key " + s.KeyURI }

// Remote is true: AWS KMS may be down or unreachable.
func (AWSKMS) Remote() bool { return true }

// KEKError is a remote key-encrypting key's failure: the KMS could not be
// reached (Unreachable: worth retrying) or it answered and refused (a key
// that did not wrap this keyset, a key the caller may not use, a disabled
// or deleted key: retrying will not help). It names the key, never key
// material.
type KEKError struct {
	Key         string // the key URI
	Op          string // "decrypt" or "encrypt"
	Unreachable bool
	Err         error
}

func (e *KEKError) Error() string {
	if e.Unreachable {
		return fmt.Sprintf("KMS key %s could not be reached to %s the keyset: %v", e.Key, e.Op, e.Err)
	}
	return fmt.Sprintf("KMS key %s refused to %s the keyset (the keyset is not wrapped by this key, or this gateway may not use it): %v", e.Key, e.Op, e.Err)
}

func (e *KEKError) Unwrap() error { return e.Err }

// remoteAEAD bounds each call to a KMS AEAD and keeps its last failure as a
// *KEKError (Tink's keyset reader flattens the AEAD's error to text; see
// kekFailure).
type remoteAEAD struct {
	ctx     context.Context
	aead    tink.AEADWithContext
	uri     string
	timeout time.Duration
	last    atomic.Pointer[KEKError]
}

func (r *remoteAEAD) Encrypt(plaintext, ad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	out, err := r.aead.EncryptWithContext(ctx, plaintext, ad)
	return out, r.fail("encrypt", err)
}

func (r *remoteAEAD) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	out, err := r.aead.DecryptWithContext(ctx, ciphertext, ad)
	return out, r.fail("decrypt", err)
}

func (r *remoteAEAD) fail(op string, err error) error {
	if err == nil {
		r.last.Store(nil)
		return nil
	}
	e := &KEKError{Key: r.uri, Op: op, Unreachable: kmsUnreachable(err), Err: err}
	r.last.Store(e)
	return e
}

func (r *remoteAEAD) kekFailure() error {
	if e := r.last.Load(); e != nil {
		return e
	}
	return nil
}

// kmsUnreachable reports whether a KMS error is worth retrying: no answer
// (a network error, a timeout), or an answer that says so (throttled, the
// service's own fault). An answer that refuses (a wrong key, access
// denied, a disabled key, an encryption context that does not match) is not.
func kmsUnreachable(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return true
	}
	switch api.ErrorCode() {
	case "ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException",
		"RequestLimitExceeded", "LimitExceededException":
		return true
	}
	return api.ErrorFault() == smithy.FaultServer
}

// kekFailure returns a remote KEK's last failure, if kek is one and failed.
func kekFailure(kek any) error {
	if r, ok := kek.(interface{ kekFailure() error }); ok {
		return r.kekFailure()
	}
	return nil
}

// loopbackHost reports whether host is this machine (localhost or a
// loopback address): plain http to a KMS is allowed there only (local-kms).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
