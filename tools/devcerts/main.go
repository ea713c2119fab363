// Command devcerts makes and uses a Monoreel PKI on disk (libs/pki's layout):
// the CA that signs every service's certificate and the key that signs user
// tokens. Services started with no -tls_* flags use the development PKI in the
// user cache dir; devstack and the tests make their own.
//
//	devcerts init                       # the CA and token key (kept if there)
//	devcerts issue idgen upload         # service certificates: <name>.pem, <name>.key
//	devcerts token -user uma -tier vip  # a user's token, for grpcurl -H "authorization: Bearer ..."
//	devcerts token -user ops -admin     # an operator's
//
// Every subcommand takes -dir (default: the development PKI).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/pki"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, time.Now); err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(2)
	}
}

const usage = "usage: devcerts init|issue NAME...|token -user USER [-tier normal|vip|robot] [-admin] [-ttl D]  (each with [-dir DIR])"

func run(args []string, out io.Writer, now func() time.Time) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	if cmd != "init" && cmd != "issue" && cmd != "token" {
		return fmt.Errorf("unknown command %q; %s", cmd, usage)
	}
	fs := flag.NewFlagSet("devcerts "+cmd, flag.ContinueOnError)
	dir := fs.String("dir", "", "the PKI directory (default: monoreel/devpki in the user cache dir, the services' own default)")
	user := fs.String("user", "", "token: the user's id")
	tier := fs.String("tier", auth.TierNormal, "token: the user's tier (normal, vip, robot)")
	admin := fs.Bool("admin", false, "token: give the operator role")
	ttl := fs.Duration("ttl", 12*time.Hour, "token: how long it is valid")
	validity := fs.Duration("validity", 365*24*time.Hour, "init and issue: how long the CA and certificates are valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no -dir and no user cache dir: %w", err)
		}
		*dir = filepath.Join(cache, "monoreel", "devpki")
	}
	d := pki.Dir(*dir)
	switch cmd {
	case "init":
		if err := pki.Ensure(d, *validity); err != nil {
			return err
		}
		fmt.Fprintf(out, "PKI in %s: CA %s, token public key %s\n", d, d.CAFile(), d.TokenPublicFile())
	case "issue":
		if fs.NArg() == 0 {
			return errors.New("issue: name the services")
		}
		if err := pki.Ensure(d, *validity); err != nil {
			return err
		}
		if err := d.IssueFiles(*validity, fs.Args()...); err != nil {
			return err
		}
		for _, name := range fs.Args() {
			fmt.Fprintf(out, "%s: -tls_cert=%s -tls_key=%s -tls_ca=%s\n", name, d.CertFile(name), d.KeyFile(name), d.CAFile())
		}
	case "token":
		if *user == "" {
			return errors.New("token: -user is required")
		}
		token, err := signToken(d, *user, *tier, *admin, now(), *ttl)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, token)
	}
	return nil
}

func signToken(d pki.Dir, user, tier string, admin bool, now time.Time, ttl time.Duration) (string, error) {
	switch tier {
	case auth.TierNormal, auth.TierVIP, auth.TierRobot:
	default:
		return "", fmt.Errorf("token: -tier %q: want %s", tier, strings.Join([]string{auth.TierNormal, auth.TierVIP, auth.TierRobot}, ", "))
	}
	keyPEM, err := os.ReadFile(d.TokenKeyFile())
	if err != nil {
		return "", fmt.Errorf("token: %w (run devcerts init first)", err)
	}
	key, err := pki.DecodeKey(keyPEM)
	if err != nil {
		return "", fmt.Errorf("token: %s: %w", d.TokenKeyFile(), err)
	}
	var roles []string
	if admin {
		roles = []string{auth.RoleAdmin}
	}
	return auth.Issuer{Key: key, Issuer: "monoreel", Audience: "monoreel"}.Sign(user, tier, roles, now, ttl)
}
