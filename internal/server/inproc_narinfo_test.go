package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// TestNarinfoRefusalHidesUnreadableNar: a user who may PutObject but not
// GetObject learns nothing about the NAR a narinfo names from the refusal
// over S3; a user who may read it gets the details.
func TestNarinfoRefusalHidesUnreadableNar(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("leak")
	nar := bytes.Repeat([]byte("secret NAR contents "), 5000)
	sum := sha256.Sum256(nar)
	url := "nar/" + nixhash.SHA256(sum).Nix32() + ".nar"
	e.put(b, url, nar)
	hash := "0123456789abcdfghijklmnpqrsvwxyz"
	ni := narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-x", URL: url, Compression: "none",
		FileHash: nixhash.SHA256(sha256.Sum256([]byte("guess"))).String(), FileSize: uint64(len(nar)) + 1,
		NarHash: nixhash.SHA256(sum).String(), NarSize: uint64(len(nar)),
	}
	secrets := []string{strconv.Itoa(len(nar)), nixhash.SHA256(sum).String()}
	policy := func(actions string) []byte {
		return fmt.Appendf(nil, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[%s],"Resource":"arn:aws:s3:::%s/*"}]}`, actions, b)
	}
	writer, err := e.srv.Access().CreateUser(ctx(t), "writer", policy(`"s3:PutObject"`))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := e.srv.Access().CreateUser(ctx(t), "reader", policy(`"s3:PutObject","s3:GetObject"`))
	if err != nil {
		t.Fatal(err)
	}
	put := func(id, secret string, body string) error {
		_, err := e.newS3(id, secret).PutObject(ctx(t), &s3.PutObjectInput{
			Bucket: aws.String(b), Key: aws.String(hash + ".narinfo"), Body: strings.NewReader(body),
		})
		return err
	}
	message := func(err error) string {
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want an S3 error", err)
		}
		return ae.ErrorMessage()
	}
	err = put(writer.ID, writer.Secret, ni.String())
	wantCode(t, err, "InvalidArgument", 400)
	for _, s := range secrets {
		if msg := message(err); strings.Contains(msg, s) {
			t.Errorf("refusal to a writer who may not read %s: %q reveals %s", url, msg, s)
		}
	}
	err = put(reader.ID, reader.Secret, ni.String())
	wantCode(t, err, "InvalidArgument", 400)
	if msg := message(err); !strings.Contains(msg, secrets[0]) {
		t.Errorf("refusal to a reader %q does not say the NAR's size", msg)
	}
	// Right claims pass for both.
	ni.FileSize, ni.FileHash = uint64(len(nar)), nixhash.SHA256(sum).String()
	if err := put(writer.ID, writer.Secret, ni.String()); err != nil {
		t.Fatalf("correct narinfo from a writer who may not read the NAR: %v", err)
	}
	// And a wrong NarHash is refused with both hashes, to a reader.
	ni.NarHash = nixhash.SHA256(sha256.Sum256([]byte("other"))).String()
	err = put(reader.ID, reader.Secret, ni.String())
	wantCode(t, err, "InvalidArgument", 400)
	if msg := message(err); !strings.Contains(msg, ni.NarHash) || !strings.Contains(msg, secrets[1]) {
		t.Errorf("NarHash refusal %q does not name both hashes", msg)
	}
}

// TestDecodedGetRefusesDictionaryBomb: a log stored xz-encoded whose
// block asks for a 4 GiB dictionary is answered 400 on GET, not decoded.
func TestDecodedGetRefusesDictionaryBomb(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("bomb")
	var bomb bytes.Buffer
	bomb.Write([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	flags := []byte{0, 0x01}
	bomb.Write(flags)
	binary.Write(&bomb, binary.LittleEndian, crc32.ChecksumIEEE(flags))
	hdr := []byte{0x02, 0x00, 0x21, 0x01, 40, 0, 0, 0}
	bomb.Write(hdr)
	binary.Write(&bomb, binary.LittleEndian, crc32.ChecksumIEEE(hdr))
	bomb.Write([]byte{0x01, 0x00, 0x03, 'a', 'b', 'c', 'd', 0x00, 0, 0, 0, 0})
	e.put(b, "log/x.drv", bomb.Bytes(), func(in *s3.PutObjectInput) { in.ContentEncoding = aws.String("xz") })
	for range 3 {
		_, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("log/x.drv")})
		wantCode(t, err, "InvalidRequest", 400)
	}
}
