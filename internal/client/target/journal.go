package target

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// A journal remembers the multipart uploads a push process has started and
// not yet completed or aborted, so that the next run can abort the ones a
// killed process left behind: S3 keeps an unfinished multipart upload (and
// bills its parts) until someone aborts it.
//
// Each process appends to a file of its own, STATE/multipart/<target>.<random>.log,
// on which it holds an exclusive flock(2) while it runs. A run opening the
// same target takes every such file whose lock it can get — the kernel
// drops a killed process's lock — aborts the uploads listed as started and
// not finished, and deletes the file. Files of processes still running
// stay locked and are left alone, so concurrent pushes never abort each
// other's uploads this way.
//
// Lines are "? KEY" just before an upload of KEY is created, "+ UPLOADID
// KEY" once it is, and "- UPLOADID" when it is completed or aborted. A kill
// between the creation and its "+" line leaves a "?" line alone: the next
// run then aborts every unfinished upload of that key (the key names a
// file by its hash, so any other upload of it is redundant).
type journal struct {
	dir    string
	target string // hashed target identity, the file name prefix

	mu   sync.Mutex
	f    *os.File        // this process's file, created on first use
	open map[string]bool // upload ids started and not finished
}

// newJournal returns the journal of target under stateDir; "" disables it.
func newJournal(stateDir, targetID string) *journal {
	if stateDir == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(targetID))
	return &journal{dir: filepath.Join(stateDir, "multipart"), target: hex.EncodeToString(sum[:8])}
}

// staleUpload is an upload a dead process left behind.
type staleUpload struct{ key, uploadID string }

// recover returns the unfinished uploads of dead processes for this
// target, the keys whose upload they may have created without learning its
// id, and a function that deletes their journal files (call it once they
// are aborted).
func (j *journal) recover() ([]staleUpload, []string, func(), error) {
	if j == nil {
		return nil, nil, func() {}, nil
	}
	files, err := filepath.Glob(filepath.Join(j.dir, j.target+".*.log"))
	if err != nil {
		return nil, nil, func() {}, err
	}
	var out []staleUpload
	var pending []string
	var locked []*os.File
	for _, name := range files {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // a live process's journal
			continue
		}
		open := map[string]string{} // upload id → key
		var order []string
		intents := map[string]bool{} // keys with a "?" line and no "+" line yet
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			fields := strings.SplitN(sc.Text(), " ", 3)
			switch {
			case len(fields) >= 2 && fields[0] == "?":
				intents[strings.Join(fields[1:], " ")] = true
			case len(fields) == 3 && fields[0] == "+":
				open[fields[1]] = fields[2]
				order = append(order, fields[1])
				delete(intents, fields[2])
			case len(fields) >= 2 && fields[0] == "-":
				delete(open, fields[1])
			}
		}
		for _, id := range order {
			if key, ok := open[id]; ok {
				out = append(out, staleUpload{key: key, uploadID: id})
			}
		}
		for key := range intents {
			pending = append(pending, key)
		}
		locked = append(locked, f)
	}
	done := func() {
		for _, f := range locked {
			os.Remove(f.Name())
			f.Close()
		}
	}
	return out, pending, done, nil
}

// creating records that an upload of key is about to be created.
func (j *journal) creating(key string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.openFile(); err != nil {
		return err
	}
	_, err := j.f.WriteString("? " + key + "\n")
	return err
}

// started records a new upload. A journal that cannot be written is not
// fatal: the upload goes on, and only a crash would leave it behind.
func (j *journal) started(key, uploadID string) error {
	return j.append("+ "+uploadID+" "+key+"\n", uploadID, true)
}

// finished records that an upload was completed or aborted.
func (j *journal) finished(uploadID string) error {
	return j.append("- "+uploadID+"\n", uploadID, false)
}

func (j *journal) append(line, uploadID string, open bool) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.open == nil {
		j.open = map[string]bool{}
	}
	if open {
		j.open[uploadID] = true
	} else {
		delete(j.open, uploadID)
	}
	if err := j.openFile(); err != nil {
		return err
	}
	if _, err := j.f.WriteString(line); err != nil {
		return fmt.Errorf("multipart journal: %w", err)
	}
	return nil
}

// openFile creates and locks this process's journal file on first use.
func (j *journal) openFile() error {
	if j.f == nil {
		if err := os.MkdirAll(j.dir, 0o700); err != nil {
			return fmt.Errorf("multipart journal: %w", err)
		}
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		name := filepath.Join(j.dir, j.target+"."+hex.EncodeToString(rnd[:])+".log")
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("multipart journal: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return fmt.Errorf("multipart journal: lock %s: %w", name, err)
		}
		j.f = f
	}
	return nil
}

// close deletes this process's journal if every upload it lists was
// completed or aborted; otherwise it leaves it, unlocked, for the next run.
func (j *journal) close() {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		if len(j.open) == 0 {
			os.Remove(j.f.Name())
		}
		j.f.Close()
		j.f = nil
	}
}
