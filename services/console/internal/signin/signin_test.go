package signin

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/ratelimit"
)

// TestSignIn: a name gets a token of the configured tier (normal for anyone
// else), the operators the admin role; what the person claims is refused.
func TestSignIn(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(pub, "monoreel", "monoreel")
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Issuer: auth.Issuer{Key: key, Issuer: "monoreel", Audience: "monoreel"}, TTL: 10 * time.Minute,
		Users: Users{Tiers: map[string]string{"uma": auth.TierVIP}, Admins: []string{"ops"}}, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, c := range []struct {
		user, tier string
		admin      bool
	}{{"uma", auth.TierVIP, false}, {"ops", auth.TierNormal, true}, {"someone", auth.TierNormal, false}} {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"user":"`+c.user+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var got Response
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s, %v", c.user, resp.Status, err)
		}
		resp.Body.Close()
		id, err := verifier.Verify(got.Token)
		if err != nil || id.Name != c.user || id.Tier != c.tier || id.Admin != c.admin || got.Tier != c.tier || got.Admin != c.admin {
			t.Errorf("%s: token for %+v (%v), response %+v; want tier %s admin %v", c.user, id, err, got, c.tier, c.admin)
		}
		if left := time.Until(got.ExpiresAt); left <= 9*time.Minute || left > 10*time.Minute {
			t.Errorf("%s: token expires in %v, want 10m", c.user, left)
		}
	}
	for body, want := range map[string]int{
		`{"user":"eve","tier":"vip"}`: http.StatusBadRequest, // a claim of one's own tier
		`{"user":""}`:                 http.StatusBadRequest,
		`{"user":"a b"}`:              http.StatusBadRequest,
		`{"user":"a"} {"user":"b"}`:   http.StatusBadRequest,
		strings.Repeat(" ", 5000):     http.StatusRequestEntityTooLarge,
	} {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%.40q: %s %s, want %d", body, resp.Status, msg, want)
		}
	}
	if resp, err := http.Get(srv.URL); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v, %v; want 405", resp, err)
	}
}

func TestParseUsers(t *testing.T) {
	tiers, err := ParseTiers(" uma=vip, bot-1=robot,,")
	if err != nil || len(tiers) != 2 || tiers["uma"] != auth.TierVIP || tiers["bot-1"] != auth.TierRobot {
		t.Errorf("ParseTiers = %v, %v", tiers, err)
	}
	for _, bad := range []string{"uma", "uma=gold", "=vip", "uma=vip,uma=normal", "a b=vip"} {
		if _, err := ParseTiers(bad); err == nil {
			t.Errorf("ParseTiers(%q) accepted", bad)
		}
	}
	if admins, err := ParseAdmins("ops, root"); err != nil || len(admins) != 2 {
		t.Errorf("ParseAdmins = %v, %v", admins, err)
	}
	if _, err := ParseAdmins("ops,-x"); err == nil {
		t.Error("ParseAdmins accepted -x")
	}
}

// FuzzParseRequest: any body is refused or gives a valid user name, which a
// request of its own gives back.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"user":"uma"}`, `{"user":"a.b_c-1"}`, `{"user":""}`, `{}`, `[]`, `{"user":"x"} `, `{"user":"\u00e9"}`, `{"User":"uma"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		user, err := ParseRequest(body)
		if err != nil {
			return
		}
		if ValidUser(user) != nil {
			t.Fatalf("%q gave an invalid user %q", body, user)
		}
		again, _ := json.Marshal(Request{User: user})
		if got, err := ParseRequest(again); err != nil || got != user {
			t.Fatalf("%q: user %q, and its own request gives %q, %v", body, user, got, err)
		}
	})
}

// FuzzParseTiers: what -signin_tiers accepts has valid users and tiers only.
func FuzzParseTiers(f *testing.F) {
	for _, s := range []string{"uma=vip", "a=normal,b=robot", "uma", "=", ",,", "a=vip,a=vip"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tiers, err := ParseTiers(s)
		if err != nil {
			return
		}
		for user, tier := range tiers {
			if ValidUser(user) != nil || (tier != auth.TierNormal && tier != auth.TierVIP && tier != auth.TierRobot) {
				t.Fatalf("%q gave %q=%q", s, user, tier)
			}
		}
	})
}

// TestSignInLimitsEachAddress: past its burst, an address is refused with 429
// and a Retry-After until its bucket refills; the refusal signs nothing.
func TestSignInLimitsEachAddress(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	h := &Handler{Issuer: auth.Issuer{Key: key, Issuer: "monoreel", Audience: "monoreel"}, TTL: time.Minute,
		Log: slog.New(slog.DiscardHandler), Limit: ratelimit.NewKeyed(0.5, 2, 100, clock.Load)}
	post := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/signin", strings.NewReader(`{"user":"uma"}`))
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 2 {
		if rec := post("192.0.2.1:4000"); rec.Code != http.StatusOK {
			t.Fatalf("sign-in %d within the burst: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := post("192.0.2.1:4001") // another port of the same address
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("third sign-in: %d, Retry-After %q, %s; want 429 after 2s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "192.0.2.1") || strings.Contains(rec.Body.String(), "token") {
		t.Errorf("refusal %q: want the address named and no token", rec.Body)
	}
	if rec := post("192.0.2.2:4000"); rec.Code != http.StatusOK {
		t.Errorf("another address was refused: %d %s", rec.Code, rec.Body)
	}
	clock.Add(int64(2 * time.Second))
	if rec := post("192.0.2.1:4000"); rec.Code != http.StatusOK {
		t.Errorf("after 2s the address is still refused: %d %s", rec.Code, rec.Body)
	}

	// Past the limiter's keys, new addresses share one bucket, and a refusal
	// says so rather than blaming the one address.
	h.Limit = ratelimit.NewKeyed(0.5, 1, 1, clock.Load)
	for _, addr := range []string{"192.0.2.10:1", "192.0.2.11:1"} {
		if rec := post(addr); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", addr, rec.Code, rec.Body)
		}
	}
	rec = post("192.0.2.12:1")
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "from new addresses at once") {
		t.Errorf("a new address past the limiter's keys: %d %s; want 429 naming new addresses", rec.Code, rec.Body)
	}
}
