// Package signin signs people in to the console, for development and devstack:
// given a user name, it returns a short-lived user token signed with the
// platform's token key, with the tier (and the operator role) the console's
// configuration gives that user, never what the person asks for.
//
// Production puts a real identity provider here: the browser signs in there
// (OIDC), and the console gets the platform token for the user from the
// identity service (auth.Issuer's production counterpart); nothing else of the
// console changes, since every call carries whatever token the browser holds.
package signin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/obs"
	"github.com/monoreel/monoreel/libs/ratelimit"
)

// Users is the console's configuration of who signs in as what: a tier per
// user (TierNormal for anyone not listed) and the operators.
type Users struct {
	Tiers  map[string]string
	Admins []string
}

// ParseTiers reads -signin_tiers: "user=tier,user=tier" (tiers normal, vip,
// robot).
func ParseTiers(s string) (map[string]string, error) {
	tiers := map[string]string{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		user, tier, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want user=tier", entry)
		}
		if err := ValidUser(user); err != nil {
			return nil, err
		}
		switch tier {
		case auth.TierNormal, auth.TierVIP, auth.TierRobot:
		default:
			return nil, fmt.Errorf("%q: tier %q is not %s, %s or %s", entry, tier, auth.TierNormal, auth.TierVIP, auth.TierRobot)
		}
		if _, dup := tiers[user]; dup {
			return nil, fmt.Errorf("user %q given twice", user)
		}
		tiers[user] = tier
	}
	return tiers, nil
}

// ParseAdmins reads -signin_admins: "user,user".
func ParseAdmins(s string) ([]string, error) {
	var admins []string
	for _, user := range strings.Split(s, ",") {
		if user = strings.TrimSpace(user); user == "" {
			continue
		}
		if err := ValidUser(user); err != nil {
			return nil, err
		}
		admins = append(admins, user)
	}
	return admins, nil
}

var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidUser accepts user names of 1 to 64 letters, digits, '.', '_' and '-',
// starting with a letter or digit: they become token subjects, log fields and
// upload owners.
func ValidUser(user string) error {
	if !userName.MatchString(user) {
		return fmt.Errorf("user name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", user)
	}
	return nil
}

// Request is what the browser posts (application/json): {"user": "uma"}.
type Request struct {
	User string `json:"user"`
}

// Response is the sign-in's answer.
type Response struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	Tier      string    `json:"tier"`
	Admin     bool      `json:"admin"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// maxRequest is the largest sign-in request read.
const maxRequest = 4 << 10

// ParseRequest decodes and checks a sign-in request: one JSON object with a
// valid user name and nothing else.
func ParseRequest(body []byte) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return "", fmt.Errorf("sign-in request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errors.New("sign-in request: more than one JSON value")
	}
	if err := ValidUser(req.User); err != nil {
		return "", err
	}
	return req.User, nil
}

// Handler signs people in: POST a Request, get a Response.
type Handler struct {
	Issuer auth.Issuer
	Users  Users
	TTL    time.Duration
	Log    *slog.Logger
	Now    func() time.Time // time.Now if nil
	// Limit bounds sign-ins per client address (nil: no limit). Signing in
	// takes no secret, so this is what stops one client from minting tokens as
	// fast as it can send requests.
	Limit *ratelimit.Keyed

	refusals obs.Throttle // of the refusals' log line: a flood logs one line a second
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "sign in with POST", http.StatusMethodNotAllowed)
		return
	}
	if h.Limit != nil {
		// Per address as the console sees it: behind a proxy, the proxy's.
		client, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			client = r.RemoteAddr
		}
		if wait, ok, shared := h.Limit.Reserve(client); !ok {
			seconds := int(math.Ceil(wait.Seconds()))
			why := "too many sign-ins from " + client
			if shared {
				why = "too many sign-ins from new addresses at once"
			}
			if n, first := h.refusals.Allow(time.Second); first {
				h.Log.Warn("sign-ins refused", "reason", why, "peer", r.RemoteAddr, "refusals", n)
			}
			w.Header().Set("Retry-After", strconv.Itoa(seconds))
			http.Error(w, fmt.Sprintf("%s: try again in %ds", why, seconds), http.StatusTooManyRequests)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	user, err := ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tier := h.Users.Tiers[user]
	if tier == "" {
		tier = auth.TierNormal
	}
	var roles []string
	admin := slices.Contains(h.Users.Admins, user)
	if admin {
		roles = []string{auth.RoleAdmin}
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	at := now()
	token, err := h.Issuer.Sign(user, tier, roles, at, h.TTL)
	if err != nil {
		h.Log.Error("signing a token", "user", user, "error", err)
		http.Error(w, "cannot sign a token", http.StatusInternalServerError)
		return
	}
	h.Log.Info("signed in", "user", user, "tier", tier, "admin", admin, "peer", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(Response{Token: token, User: user, Tier: tier, Admin: admin, ExpiresAt: at.Add(h.TTL).UTC()})
}
