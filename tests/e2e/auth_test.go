package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRegisterThenLogin(t *testing.T) {
	a := newAccount(t)
	if a.UserID == "" || a.AccessToken == "" || !strings.HasPrefix(a.RefreshToken, "rt_") || a.TokenType != "Bearer" || a.ExpiresIn <= 0 {
		t.Fatalf("incomplete token answer: %+v", a.tokens)
	}
	r := login(t, strings.ToUpper(a.Email), a.Password) // addresses are case-insensitive
	expect(t, r, 200)
	var tk tokens
	r.json(t, &tk)
	if tk.UserID != a.UserID {
		t.Fatalf("login answered user %s, registered %s", tk.UserID, a.UserID)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token answer is cacheable: %v", r.Header)
	}
	p := expectProblem(t, login(t, a.Email, "wrong-password-1"), 401, "")
	if !strings.HasSuffix(p.Type, "bad-credentials") {
		t.Fatalf("wrong password: %+v", p)
	}
	expectProblem(t, login(t, "nobody-"+randomHex(4)+"@example.com", "whatever-pw"), 401, "")
	// the same email twice
	expectProblem(t, do(t, "POST", gw+"/auth/register", "", map[string]any{"email": a.Email, "password": "another-password",
		"displayName": "Dup"}), 409, "")
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	a := newAccount(t)
	r := do(t, "POST", gw+"/auth/refresh", "", map[string]string{"refreshToken": a.RefreshToken})
	expect(t, r, 200)
	var second tokens
	r.json(t, &second)
	if second.RefreshToken == a.RefreshToken || second.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	expect(t, do(t, "GET", gw+"/me", second.AccessToken, nil), 200)
	// the first refresh token again: reuse, which revokes the whole family
	p := expectProblem(t, do(t, "POST", gw+"/auth/refresh", "", map[string]string{"refreshToken": a.RefreshToken}), 401, "")
	if !strings.HasSuffix(p.Type, "refresh-reused") {
		t.Fatalf("reuse not detected: %+v", p)
	}
	expectProblem(t, do(t, "POST", gw+"/auth/refresh", "", map[string]string{"refreshToken": second.RefreshToken}), 401, "")
	// another session of the same user is not affected
	r = login(t, a.Email, a.Password)
	expect(t, r, 200)
	var other tokens
	r.json(t, &other)
	expect(t, do(t, "POST", gw+"/auth/refresh", "", map[string]string{"refreshToken": other.RefreshToken}), 200)
}

func TestLogoutRevokesTheSession(t *testing.T) {
	a := newAccount(t)
	expect(t, do(t, "POST", gw+"/auth/logout", "", map[string]string{"refreshToken": a.RefreshToken}), 204)
	expectProblem(t, do(t, "POST", gw+"/auth/refresh", "", map[string]string{"refreshToken": a.RefreshToken}), 401, "")
	expect(t, do(t, "POST", gw+"/auth/logout", "", map[string]string{"refreshToken": a.RefreshToken}), 204) // twice is fine
}

func TestRepeatedFailuresAreThrottled(t *testing.T) {
	a := newAccount(t) // the e2e stack allows 3 failures per account
	for i := 0; i < 3; i++ {
		expectProblem(t, login(t, a.Email, "wrong-"+randomHex(3)), 401, "")
	}
	r := login(t, a.Email, a.Password) // even the right password waits now
	expectProblem(t, r, 429, "")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// sign makes a compact JWS the way a forger or a key holder would.
func sign(t *testing.T, header, claims map[string]any, key ed25519.PrivateKey) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return in + "." + enc.EncodeToString(ed25519.Sign(key, []byte(in)))
}

// provisionedKid finds, in the public JWKS, the kid of the key the test
// provisioned through the secret store.
func provisionedKid(t *testing.T) string {
	t.Helper()
	r := do(t, "GET", gw+"/auth/jwks", "", nil)
	expect(t, r, 200)
	var set struct {
		Keys []struct{ Kid, X, Kty, Crv, Alg string } `json:"keys"`
	}
	r.json(t, &set)
	x := base64.RawURLEncoding.EncodeToString(signingKey.Public().(ed25519.PublicKey))
	for _, k := range set.Keys {
		if k.X == x && k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" {
			return k.Kid
		}
	}
	t.Fatalf("the provisioned key is not in the JWKS: %s", r.Body)
	return ""
}

func TestGatewayRejectsBadTokens(t *testing.T) {
	a := newAccount(t)
	kid := provisionedKid(t)
	now := time.Now().Unix()
	claims := func(exp int64) map[string]any {
		return map[string]any{"iss": "harmonia-auth", "aud": "harmonia-api", "sub": a.UserID, "iat": now - 3600,
			"nbf": now - 3600, "exp": exp, "jti": randomHex(8), "roles": []string{"listener", "admin"}}
	}
	hdr := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
	// A well-signed token with the real key works: the fixture is sound.
	expect(t, do(t, "GET", gw+"/me", sign(t, hdr, claims(now+600), signingKey), nil), 200)

	_, wrongKey, _ := ed25519.GenerateKey(rand.Reader)
	parts := strings.Split(a.AccessToken, ".")
	forgedClaims := claims(now + 600)
	fc, _ := json.Marshal(forgedClaims)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(fc) + "." + parts[2]
	noneHdr, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT", "kid": kid})
	cases := []struct {
		name, token, problemType string
	}{
		{"expired", sign(t, hdr, claims(now-120), signingKey), "token-expired"},
		{"wrongly signed", sign(t, hdr, claims(now+600), wrongKey), "token-invalid"},
		{"unknown key id", sign(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "k-unknown"}, claims(now+600), wrongKey), "token-invalid"},
		{"forged claims", forged, "token-invalid"},
		{"alg none", base64.RawURLEncoding.EncodeToString(noneHdr) + "." + parts[1] + ".", "token-invalid"},
		{"wrong audience", sign(t, hdr, map[string]any{"iss": "harmonia-auth", "aud": "elsewhere", "sub": a.UserID, "exp": now + 600}, signingKey), "token-invalid"},
		{"garbage", "not.a.token", "token-invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "GET", gw+"/me", c.token, nil)
			p := expectProblem(t, r, 401, "")
			if !strings.HasSuffix(p.Type, c.problemType) {
				t.Fatalf("type %s, want %s", p.Type, c.problemType)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	p := expectProblem(t, do(t, "GET", gw+"/me", "", nil), 401, "")
	if !strings.HasSuffix(p.Type, "token-missing") {
		t.Fatalf("no token: %+v", p)
	}
}

func TestAdminManagesRoles(t *testing.T) {
	a := newAccount(t)
	r := login(t, "admin@harmonia.local", adminPassword)
	expect(t, r, 200)
	var admin tokens
	r.json(t, &admin)
	// a listener may not
	expectProblem(t, do(t, "PUT", gw+"/admin/users/"+a.UserID+"/roles", a.AccessToken, map[string]any{"roles": []string{"admin"}}), 403, "")
	expectProblem(t, do(t, "PUT", gw+"/admin/users/"+a.UserID+"/roles", admin.AccessToken, map[string]any{"roles": []string{"root"}}), 400, "roles")
	expectProblem(t, do(t, "PUT", gw+"/admin/users/not-an-id/roles", admin.AccessToken, map[string]any{"roles": []string{"artist"}}), 400, "id")
	expectProblem(t, do(t, "PUT", gw+"/admin/users/01900000-0000-7000-8000-000000000000/roles", admin.AccessToken,
		map[string]any{"roles": []string{"artist"}}), 404, "")
	r = do(t, "PUT", gw+"/admin/users/"+a.UserID+"/roles", admin.AccessToken, map[string]any{"roles": []string{"listener", "artist"}})
	expect(t, r, 200)
	// the next token carries the new roles
	r = login(t, a.Email, a.Password)
	expect(t, r, 200)
	var tk tokens
	r.json(t, &tk)
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tk.AccessToken, ".")[1])
	var c struct{ Roles []string }
	_ = json.Unmarshal(payload, &c)
	if strings.Join(c.Roles, ",") != "artist,listener" {
		t.Fatalf("roles in the new token: %v", c.Roles)
	}
	// the signing key came from the secret store, so rotation happens there
	expectProblem(t, do(t, "POST", gw+"/admin/auth/keys/rotate", admin.AccessToken, nil), 409, "")
}
