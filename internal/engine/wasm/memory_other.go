//go:build !linux

package wasm

import (
	"os"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryFile keeps a memory image in an unlinked temporary file.
func memoryFile(mem []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "gureum-snapshot-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if _, err := f.Write(mem); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// mapImage copies the image: copy-on-write mapping is built for Linux.
func mapImage(file *os.File, size, limit uint64) (experimental.LinearMemory, error) {
	return copyImage(file, size, limit)
}
