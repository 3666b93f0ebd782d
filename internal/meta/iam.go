package meta

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the identity part of the Store.
var (
	ErrNoSuchUser         = errors.New("no such user")
	ErrUserExists         = errors.New("user already exists")
	ErrNoSuchToken        = errors.New("no such token")
	ErrNoSuchBucketPolicy = errors.New("no such bucket policy")
)

// User is an IAM-style user. Its ARN is arn:aws:iam::<account>:user/<Name>.
type User struct {
	Name    string
	Created time.Time
	// Policy is the user's identity policy as JSON, nil for none. The
	// store keeps it verbatim; callers validate it before storing.
	Policy []byte
}

// Token is a bearer secret for clients that cannot sign (Nix's netrc, curl).
// Only a hash of the secret is stored.
type Token struct {
	ID      string
	User    string
	Hash    []byte // SHA-256 of the secret
	Created time.Time
	Expires time.Time // zero: never
	// Policy narrows what the token may do below its user's rights; nil
	// means the user's rights.
	Policy []byte
}

// IAM is the identity part of the Store: users, their keys and tokens, and
// bucket policies. Deleting a user deletes its keys and tokens.
//
// The administrator, "root", has access keys but no User record: it has
// no tokens and no policy, CreateUser refuses its name, and DeleteUser
// does not know it.
//
// Every change made here is announced (see Announcer).
type IAM interface {
	CreateUser(ctx context.Context, u User) error        // ErrUserExists, also for "root"
	User(ctx context.Context, name string) (User, error) // ErrNoSuchUser
	Users(ctx context.Context) ([]User, error)           // sorted by name
	DeleteUser(ctx context.Context, name string) error   // ErrNoSuchUser
	// SetUserPolicy replaces the user's policy; nil removes it.
	// ErrNoSuchUser.
	SetUserPolicy(ctx context.Context, name string, policy []byte) error

	// PutAccessKey stores a new key: ErrAccessKeyExists for an ID in use.
	PutAccessKey(ctx context.Context, k AccessKey) error
	AccessKey(ctx context.Context, id string) (AccessKey, error) // ErrNoSuchAccessKey
	AccessKeys(ctx context.Context) ([]AccessKey, error)

	// SetAccessKeyEnabled enables or disables a key: ErrNoSuchAccessKey.
	SetAccessKeyEnabled(ctx context.Context, id string, enabled bool) error
	DeleteAccessKey(ctx context.Context, id string) error // ErrNoSuchAccessKey

	// PutToken stores a new token: ErrNoSuchUser unless t.User has a User
	// record. An ID already in use, or an empty Hash, is an error.
	PutToken(ctx context.Context, t Token) error
	Token(ctx context.Context, id string) (Token, error) // ErrNoSuchToken
	Tokens(ctx context.Context) ([]Token, error)         // sorted by user, then ID
	DeleteToken(ctx context.Context, id string) error    // ErrNoSuchToken

	// SetBucketPolicy stores a bucket's policy; nil removes it.
	// ErrNoSuchBucket for a missing bucket. DeleteBucket deletes the
	// bucket's policy with it.
	SetBucketPolicy(ctx context.Context, bucket string, policy []byte) error
	// BucketPolicy returns the policy JSON: ErrNoSuchBucket,
	// ErrNoSuchBucketPolicy.
	BucketPolicy(ctx context.Context, bucket string) ([]byte, error)

	// Setting and SetSetting keep small server-wide values (such as the
	// account id); a missing name reads as "".
	Setting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error
}

// SettingsLister is a Store that lists its settings, which IAM's Setting
// reads only by a name the caller knows: nixbucket migrate copies them
// all, whatever their names. Both stores here are one.
type SettingsLister interface {
	// Settings returns every setting stored, by name.
	Settings(ctx context.Context) (map[string]string, error)
}

// Settings that nixbucket migrate keeps on the store it fills, and never
// copies from one store to another.
const (
	// SettingMigrateSource names the install a store was filled from
	// (its administrator's first access key ID), so that migrate goes on
	// filling only a store it filled itself from the same source.
	SettingMigrateSource = "migrate-source"
	// SettingMigrating is set, to what is being copied from where and
	// since when, while a migrate fills the store, and cleared once the
	// copy is verified. A server refuses to start on a store that has it:
	// serving half a copy would answer 404s for what the source holds,
	// and a server with the source's blobs (migrate without --to-blobs)
	// would sweep as unreferenced the blobs not copied yet.
	SettingMigrating = "migrate-incomplete"
	// SettingMigrateServed is set, to when, by the first server that
	// starts on a store migrate filled: from then on the store takes
	// writes of its own, which another migrate would overwrite (or, with
	// --delete, remove), so migrate refuses it.
	SettingMigrateServed = "migrate-served"
)
