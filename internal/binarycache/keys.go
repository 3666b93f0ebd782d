package binarycache

import (
	"context"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// KeyStore keeps buckets' signing keys.
type KeyStore interface {
	Keys
	AddSigningKey(ctx context.Context, k meta.SigningKey) error
}

// NewSigningKey generates a signing key for bucket and stores it. An empty
// name gives "<bucket>-<n>", the first n not in use.
func NewSigningKey(ctx context.Context, store KeyStore, bucket, name string) (signature.SecretKey, error) {
	if name == "" {
		keys, err := store.SigningKeys(ctx, bucket)
		if err != nil {
			return signature.SecretKey{}, err
		}
		used := map[string]bool{}
		for _, k := range keys {
			used[k.Name] = true
		}
		for n := 1; ; n++ {
			if name = fmt.Sprintf("%s-%d", bucket, n); !used[name] {
				break
			}
		}
	}
	k, err := signature.Generate(name)
	if err != nil {
		return signature.SecretKey{}, err
	}
	err = store.AddSigningKey(ctx, meta.SigningKey{Bucket: bucket, Name: name, Secret: k.String(), Created: time.Now().UTC()})
	return k, err
}

// PublicKeys returns a bucket's keys in trusted-public-keys form.
func PublicKeys(ctx context.Context, store KeyStore, bucket string) ([]string, error) {
	keys, err := store.SigningKeys(ctx, bucket)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		sk, err := signature.ParseSecretKey(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("bucket %s key %s: %w", bucket, k.Name, err)
		}
		out = append(out, sk.Public().String())
	}
	return out, nil
}
