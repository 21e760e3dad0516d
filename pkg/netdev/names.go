package netdev

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// tempPrefix starts the names of links on their way to their real name.
const tempPrefix = "qq"

// TempName is a unique name for a link being made: it never collides with a
// host link or with CNI_IFNAME before the rename, and a crash in between
// leaves a name DEL and GC recognise as qinq's.
func TempName() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return tempPrefix + hex.EncodeToString(b)
}

// IsTempName recognises TempName's output: "qq" and 10 hex digits.
func IsTempName(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || len(rest) != 10 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}
