package main

import (
	"encoding/json"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// User is a test user of the sandbox Dex. Passwords are public: this is a test identity provider
// on loopback, and users.json hands them to the tests.
type User struct {
	Email    string   `json:"email"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	Groups   []string `json:"groups"`
	UserID   string   `json:"userID"`
}

// Users are the people of jitgate's scenarios: alice is on call for payments, bob leads SRE and
// approves, carol develops and leads payments (an approver) but is not on call, dave is in
// security and reviews.
var Users = []User{
	{Email: "alice@example.com", Username: "alice", Password: "alice-password", Groups: []string{"oncall-payments", "sre"}, UserID: "0d3c2f1e-a11c-4000-8000-000000000001"},
	{Email: "bob@example.com", Username: "bob", Password: "bob-password", Groups: []string{"sre", "sre-leads"}, UserID: "0d3c2f1e-b0b0-4000-8000-000000000002"},
	{Email: "carol@example.com", Username: "carol", Password: "carol-password", Groups: []string{"payments-dev", "payments-leads"}, UserID: "0d3c2f1e-ca50-4000-8000-000000000003"},
	{Email: "dave@example.com", Username: "dave", Password: "dave-password", Groups: []string{"security", "auditors"}, UserID: "0d3c2f1e-da7e-4000-8000-000000000004"},
}

// Client is the OAuth2 client jitgate (gateway and `kubectl jit login`) uses.
type Client struct {
	ID     string `json:"clientID"`
	Secret string `json:"clientSecret"`
}

// JitgateClient is public so that Dex accepts any loopback redirect (http://127.0.0.1:PORT/...,
// the auth-code + PKCE flow of `kubectl jit login`) and the device flow; Dex still checks its
// secret at the token endpoint because one is configured.
var JitgateClient = Client{ID: "jitgate", Secret: "jitgate-sandbox-secret"}

// dexConfig renders Dex's configuration as JSON, which Dex's YAML loader reads as it is.
func dexConfig(issuer, listen, certPath, keyPath string) ([]byte, error) {
	type staticPassword struct {
		Email             string   `json:"email"`
		Hash              string   `json:"hash"`
		Username          string   `json:"username"`
		Name              string   `json:"name"`
		PreferredUsername string   `json:"preferredUsername"`
		EmailVerified     bool     `json:"emailVerified"`
		UserID            string   `json:"userID"`
		Groups            []string `json:"groups"`
	}
	var passwords []staticPassword
	for _, u := range Users {
		// bcrypt.MinCost (4) would be faster, but Dex refuses hashes cheaper than cost 10.
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), 10)
		if err != nil {
			return nil, fmt.Errorf("hashing the password of %s: %w", u.Email, err)
		}
		passwords = append(passwords, staticPassword{
			Email: u.Email, Hash: string(hash), Username: u.Username, Name: u.Username,
			PreferredUsername: u.Username, EmailVerified: true, UserID: u.UserID, Groups: u.Groups,
		})
	}
	cfg := map[string]any{
		"issuer":  issuer,
		"storage": map[string]any{"type": "memory"},
		"web": map[string]any{
			"https":   listen,
			"tlsCert": certPath,
			"tlsKey":  keyPath,
		},
		"logger": map[string]any{"level": "info", "format": "text"},
		"oauth2": map[string]any{
			// The password grant lets a test get an ID token with one POST; "local" is the
			// static password database below.
			"passwordConnector":  "local",
			"skipApprovalScreen": true,
			"grantTypes": []string{
				"authorization_code",
				"refresh_token",
				"password",
				"urn:ietf:params:oauth:grant-type:device_code",
			},
			"responseTypes": []string{"code"},
		},
		// Signing keys rotate every 6 h (Dex's default), which exercises the verifier's refetch
		// on an unknown key id in a long-running sandbox.
		"expiry": map[string]any{
			"idTokens":       "1h",
			"deviceRequests": "5m",
		},
		"staticClients": []map[string]any{{
			"id":     JitgateClient.ID,
			"secret": JitgateClient.Secret,
			"name":   "jitgate",
			"public": true,
		}},
		"enablePasswordDB": true,
		"staticPasswords":  passwords,
	}
	return json.MarshalIndent(cfg, "", "  ")
}
