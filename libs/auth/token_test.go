package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newIssuer(t testing.TB) (Issuer, *Verifier) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(pub, "monoreel", "monoreel")
	if err != nil {
		t.Fatal(err)
	}
	v.now = func() time.Time { return now }
	return Issuer{Key: priv, Issuer: "monoreel", Audience: "monoreel"}, v
}

func TestVerifyGivesTheTokensUser(t *testing.T) {
	iss, v := newIssuer(t)
	for _, tc := range []struct {
		tier  string
		roles []string
		want  Identity
	}{
		{"", nil, Identity{Kind: User, Name: "uma", Tier: TierNormal}},
		{TierVIP, nil, Identity{Kind: User, Name: "uma", Tier: TierVIP}},
		{TierRobot, []string{"reader", RoleAdmin}, Identity{Kind: User, Name: "uma", Tier: TierRobot, Admin: true}},
	} {
		token, err := iss.Sign("uma", tc.tier, tc.roles, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := v.Verify(token); err != nil || got != tc.want {
			t.Errorf("tier %q roles %v: %+v, %v; want %+v", tc.tier, tc.roles, got, err, tc.want)
		}
	}
}

// TestVerifyRefuses: every way a token can be wrong is refused, and says which.
func TestVerifyRefuses(t *testing.T) {
	iss, v := newIssuer(t)
	other, _ := newIssuer(t)
	sign := func(i Issuer, user, tier string, at time.Time) string {
		token, err := i.Sign(user, tier, nil, at, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	valid := sign(iss, "uma", TierNormal, now)
	header, payload, _ := strings.Cut(valid, ".")
	payload, _, _ = strings.Cut(payload, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."
	hmac, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "uma", "iss": "monoreel", "aud": "monoreel", "exp": now.Add(time.Hour).Unix()}).SignedString([]byte("guess"))
	if err != nil {
		t.Fatal(err)
	}
	wrongAudience := Issuer{Key: iss.Key, Issuer: "monoreel", Audience: "billing"}
	wrongIssuer := Issuer{Key: iss.Key, Issuer: "someone", Audience: "monoreel"}
	for name, tc := range map[string]struct {
		token string
		want  error
		says  string
	}{
		"expired":              {sign(iss, "uma", TierNormal, now.Add(-2*time.Hour)), ErrTokenExpired, "expired"},
		"signed by another":    {sign(other, "uma", TierVIP, now), ErrTokenInvalid, "signature"},
		"alg none":             {none, ErrTokenInvalid, "signing method"},
		"HMAC":                 {hmac, ErrTokenInvalid, "signing method"},
		"another audience":     {sign(wrongAudience, "uma", TierNormal, now), ErrTokenInvalid, "aud"},
		"another issuer":       {sign(wrongIssuer, "uma", TierNormal, now), ErrTokenInvalid, "iss"},
		"no subject":           {sign(iss, "", TierNormal, now), ErrTokenInvalid, "no subject"},
		"unknown tier":         {sign(iss, "uma", "platinum", now), ErrTokenInvalid, `unknown tier "platinum"`},
		"issued in the future": {sign(iss, "uma", TierNormal, now.Add(time.Hour)), ErrTokenInvalid, "used before issued"},
		"tampered payload":     {header + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"uma","tier":"vip"}`)) + "." + strings.Split(valid, ".")[2], ErrTokenInvalid, "signature"},
		"garbage":              {"not a token", ErrTokenInvalid, "malformed"},
	} {
		_, err := v.Verify(tc.token)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, tc.want, tc.says)
		}
	}
}

func TestES256(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(&key.PublicKey, "monoreel", "monoreel")
	if err != nil {
		t.Fatal(err)
	}
	token, err := Issuer{Key: key, Issuer: "monoreel", Audience: "monoreel"}.Sign("uma", TierVIP, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := v.Verify(token); err != nil || id.Tier != TierVIP {
		t.Errorf("an ES256 token: %+v, %v", id, err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(&p384.PublicKey, "monoreel", "monoreel"); err == nil {
		t.Error("a P-384 key was accepted for ES256")
	}
}

// FuzzVerify: no input makes Verify panic, and none but a token the issuer
// signed passes: whatever passes names exactly the signed user and tier.
func FuzzVerify(f *testing.F) {
	iss, v := newIssuer(f)
	valid, err := iss.Sign("uma", TierVIP, []string{RoleAdmin}, now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid + "x")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1bWEifQ.")
	f.Add("")
	want := Identity{Kind: User, Name: "uma", Tier: TierVIP, Admin: true}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err == nil && id != want {
			t.Fatalf("Verify(%q) = %+v: a token the issuer did not sign passed", token, id)
		}
		if err != nil && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("Verify(%q): %v matches neither ErrTokenInvalid nor ErrTokenExpired", token, err)
		}
	})
}

// TestCachedTokenStillExpires: a token verified once is not checked again, but
// still stops working when it expires.
func TestCachedTokenStillExpires(t *testing.T) {
	iss, v := newIssuer(t)
	token, err := iss.Sign("uma", TierNormal, nil, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := v.Verify(token); err != nil {
			t.Fatal(err)
		}
	}
	v.now = func() time.Time { return now.Add(time.Minute + leeway + time.Second) }
	if _, err := v.Verify(token); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("a cached token past its expiry: %v, want ErrTokenExpired", err)
	}
}

// BenchmarkVerify: a token's first check (the signature) against the next ones.
func BenchmarkVerify(b *testing.B) {
	iss, v := newIssuer(b)
	v.now = time.Now
	b.Run("first", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			token, err := iss.Sign("uma", TierNormal, nil, time.Now(), time.Hour+time.Duration(i)*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			v.verified.Purge()
			b.StartTimer()
			if _, err := v.Verify(token); err != nil {
				b.Fatal(err)
			}
		}
	})
	token, err := iss.Sign("uma", TierNormal, nil, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
