package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestSecretsFailClosedOutsideTheLocalStack(t *testing.T) {
	ctx := context.Background()
	store := func(vals map[string]string, err error) func(context.Context, string) (string, error) {
		return func(_ context.Context, k string) (string, error) {
			if err != nil {
				return "", err
			}
			v, ok := vals[k]
			if !ok {
				return "", errors.New("no such secret")
			}
			return v, nil
		}
	}
	both := map[string]string{"ADMIN_PASSWORD": "s3cret-admin", "AUTH_SIGNING_KEY": "c2VlZA=="}
	if pw, seed, err := loadSecrets(ctx, store(both, nil), false); err != nil || pw != "s3cret-admin" || seed == "" {
		t.Fatal(pw, seed, err)
	}
	// production: a missing secret, or a store that does not answer, stops auth
	for name, get := range map[string]func(context.Context, string) (string, error){
		"no admin password": store(map[string]string{"AUTH_SIGNING_KEY": "c2VlZA=="}, nil),
		"no signing key":    store(map[string]string{"ADMIN_PASSWORD": "x"}, nil),
		"store down":        store(nil, errors.New("connection refused")),
	} {
		if _, _, err := loadSecrets(ctx, get, false); err == nil || !strings.Contains(err.Error(), "HARMONIA_LOCAL") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// locally the documented defaults stand in
	if pw, seed, err := loadSecrets(ctx, store(nil, errors.New("down")), true); err != nil || pw != DefaultAdminPassword || seed != "" {
		t.Fatal(pw, seed, err)
	}
}
