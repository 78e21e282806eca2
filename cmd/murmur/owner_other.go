//go:build !unix

package main

import "os"

// notOwnersDir: on this system, files a command writes keep no owner
// that would lock a service out (see owner_unix.go).
func notOwnersDir(string) string { return "" }

// dirOwner, fileOwner: no owner to name on this system.
func dirOwner(string) (string, int) { return "", -1 }

func fileOwner(os.FileInfo) (string, int) { return "", -1 }
