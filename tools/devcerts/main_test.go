package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/pki"
)

// TestInitIssueToken: the three commands make a PKI whose token verifies with
// its public key, as a service would check it.
func TestInitIssueToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	var out strings.Builder
	for _, args := range [][]string{{"init", "-dir", dir}, {"issue", "-dir", dir, "idgen", "upload"}} {
		if err := run(args, &out, time.Now); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for _, f := range []string{"ca.pem", "ca.key", "token.key", "token.pub", "idgen.pem", "idgen.key", "upload.pem", "upload.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	out.Reset()
	if err := run([]string{"token", "-dir", dir, "-user", "ops", "-admin", "-tier", "vip"}, &out, time.Now); err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(pki.Dir(dir).TokenPublicFile())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pki.DecodePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(pub, "monoreel", "monoreel")
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil || id.Name != "ops" || !id.Admin || id.Tier != auth.TierVIP {
		t.Errorf("the token verifies as %+v, %v", id, err)
	}
}

func TestErrorsSayWhat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"sign"}, `unknown command "sign"`},
		{[]string{"token", "-dir", dir}, "-user is required"},
		{[]string{"token", "-dir", dir, "-user", "u"}, "run devcerts init first"},
		{[]string{"token", "-dir", dir, "-user", "u", "-tier", "gold"}, `-tier "gold"`},
		{[]string{"issue", "-dir", dir}, "name the services"},
	} {
		if err := run(tc.args, &strings.Builder{}, time.Now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
