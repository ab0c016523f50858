package keys

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

// TestKMSErrorKinds: a KMS that does not answer, throttles or fails on its
// side is worth retrying; one that answers and refuses is not.
func TestKMSErrorKinds(t *testing.T) {
	for err, unreachable := range map[error]bool{
		errors.New("dial tcp 127.0.0.1:1: connect: connection refused"): true,
		context.DeadlineExceeded: true,
		&smithy.GenericAPIError{Code: "ThrottlingException", Fault: smithy.FaultClient}:        true,
		&smithy.GenericAPIError{Code: "KMSInternalException", Fault: smithy.FaultServer}:       true,
		&smithy.GenericAPIError{Code: "IncorrectKeyException", Fault: smithy.FaultClient}:      false,
		&smithy.GenericAPIError{Code: "InvalidCiphertextException", Fault: smithy.FaultClient}: false,
		&smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}:      false,
		&smithy.GenericAPIError{Code: "DisabledException", Fault: smithy.FaultClient}:          false,
	} {
		if got := kmsUnreachable(err); got != unreachable {
			t.Errorf("%v: unreachable = %v, want %v", err, got, unreachable)
		}
	}
}

// TestAWSKMSCheck: the settings are checked without a call; the region
// comes from the ARN unless set.
func TestAWSKMSCheck(t *testing.T) {
	arn := "arn:aws:kms:eu-west-1:111122223333:key/bc436485-5092-42b8-92a3-0aa8b93536dc"
	if _, region, err := (AWSKMS{KeyURI: AWSKMSPrefix + arn}).parse(); err != nil || region != "eu-west-1" {
		t.Fatalf("region from the ARN: %q %v", region, err)
	}
	if _, region, err := (AWSKMS{KeyURI: AWSKMSPrefix + "alias/x", Region: "us-east-1"}).parse(); err != nil || region != "us-east-1" {
		t.Fatalf("region set: %q %v", region, err)
	}
	for s, want := range map[AWSKMS]string{
		{KeyURI: arn}:                                       "want aws-kms://",
		{KeyURI: AWSKMSPrefix + "alias/x"}:                  "names no region",
		{KeyURI: AWSKMSPrefix + arn, Endpoint: "localhost"}: "http(s) URL",
		{KeyURI: AWSKMSPrefix + arn, Endpoint: "ftp://x:1"}: "http(s) URL",
	} {
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", s, err, want)
		}
	}
	if !(AWSKMS{}).Remote() || EnvKEK("X").Remote() || FileKEK("/x").Remote() {
		t.Fatal("Remote")
	}
	if err := (&KEKError{Key: AWSKMSPrefix + arn, Op: "decrypt", Err: errors.New("x")}).Error(); !strings.Contains(err, arn) || !strings.Contains(err, "refused") {
		t.Fatalf("KEKError: %s", err)
	}
}
