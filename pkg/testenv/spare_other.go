//go:build !linux

package testenv

import "os/exec"

// canDieWithParent tells whether dieWithParent works here.
const canDieWithParent = false

func dieWithParent(*exec.Cmd) {}

func alive(int) bool { return true }
