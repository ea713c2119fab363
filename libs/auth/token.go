package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Claims are what a Monoreel user token says, besides the registered claims
// (sub: the user's id, iss, aud, exp, iat).
type Claims struct {
	jwt.RegisteredClaims
	Tier  string   `json:"tier,omitempty"`  // TierNormal, TierVIP or TierRobot; empty is normal
	Roles []string `json:"roles,omitempty"` // RoleAdmin for operators
}

// Errors of token verification: a status with reason TOKEN_EXPIRED or
// TOKEN_INVALID (Errors) tells the client which.
var (
	ErrTokenExpired = errors.New("token expired")
	ErrTokenInvalid = errors.New("token invalid")
)

// Issuer signs user tokens. Production has an identity service for this; devstack,
// tools/devcerts and the tests sign their own, with the PKI's token key.
type Issuer struct {
	Key      crypto.Signer // ed25519.PrivateKey (EdDSA) or *ecdsa.PrivateKey on P-256 (ES256)
	Issuer   string
	Audience string
}

// Sign returns a token for user, valid for ttl from now.
func (i Issuer) Sign(user, tier string, roles []string, now time.Time, ttl time.Duration) (string, error) {
	var method jwt.SigningMethod
	switch i.Key.(type) {
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *ecdsa.PrivateKey:
		method = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("auth: cannot sign tokens with a %T", i.Key)
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user,
			Issuer:    i.Issuer,
			Audience:  jwt.ClaimStrings{i.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Tier:  tier,
		Roles: roles,
	}
	return jwt.NewWithClaims(method, claims).SignedString(i.Key)
}

// Verifier checks user tokens against the issuer's public key. A client sends
// the same token with every call, and checking a signature costs more than the
// rest of a call (BenchmarkNextIDSecurity in services/idgen), so the identities
// of recently verified tokens are kept, until the tokens expire.
type Verifier struct {
	key      crypto.PublicKey
	parser   *jwt.Parser
	now      func() time.Time
	verified *lru.Cache[string, verified]
}

// verified is a token already checked: who it names, until when.
type verified struct {
	id      Identity
	expires time.Time
}

// verifiedTokens is how many verified tokens a Verifier keeps.
const verifiedTokens = 16384

// leeway is how far the clocks of issuer and service may differ.
const leeway = 30 * time.Second

// NewVerifier checks tokens signed by key (ed25519.PublicKey or an ECDSA P-256
// key), issued by issuer for audience. Only the algorithm of key is accepted, so
// a token cannot choose a weaker one ("none", or HMAC keyed with the public key).
func NewVerifier(key crypto.PublicKey, issuer, audience string) (*Verifier, error) {
	var alg string
	switch k := key.(type) {
	case ed25519.PublicKey:
		alg = jwt.SigningMethodEdDSA.Alg()
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("auth: token key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		alg = jwt.SigningMethodES256.Alg()
	default:
		return nil, fmt.Errorf("auth: a %T cannot verify tokens (want Ed25519 or ECDSA P-256)", key)
	}
	cache, err := lru.New[string, verified](verifiedTokens)
	if err != nil {
		return nil, err
	}
	v := &Verifier{key: key, now: time.Now, verified: cache}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v, nil
}

// Verify returns the user a token names, or an error matching ErrTokenExpired or
// ErrTokenInvalid that says what is wrong with it.
func (v *Verifier) Verify(token string) (Identity, error) {
	if seen, ok := v.verified.Get(token); ok {
		if v.now().After(seen.expires.Add(leeway)) {
			v.verified.Remove(token)
			return Identity{}, fmt.Errorf("%w: token has invalid claims: token is expired", ErrTokenExpired)
		}
		return seen.id, nil
	}
	id, expires, err := v.verify(token)
	if err != nil {
		return Identity{}, err
	}
	v.verified.Add(token, verified{id, expires})
	return id, nil
}

func (v *Verifier) verify(token string) (Identity, time.Time, error) {
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, time.Time{}, fmt.Errorf("%w: %v", ErrTokenExpired, err)
	case err != nil:
		return Identity{}, time.Time{}, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	case claims.Subject == "":
		return Identity{}, time.Time{}, fmt.Errorf("%w: no subject (user id)", ErrTokenInvalid)
	}
	tier := claims.Tier
	switch tier {
	case "":
		tier = TierNormal
	case TierNormal, TierVIP, TierRobot:
	default:
		return Identity{}, time.Time{}, fmt.Errorf("%w: unknown tier %q", ErrTokenInvalid, claims.Tier)
	}
	return Identity{Kind: User, Name: claims.Subject, Tier: tier, Admin: slices.Contains(claims.Roles, RoleAdmin)}, claims.ExpiresAt.Time, nil
}
