// A stand-in for the deploy's SSH client: pulumi-command connects with Go's
// golang.org/x/crypto/ssh and its default algorithms, as this does. Built in
// GOPATH mode from Debian's golang-golang-x-crypto-dev (offline), it logs in
// with a key, runs one command and prints the host key type and its output,
// so tests/e2e/test_cloudinit_hardening.py can see the hardened sshd accept it.
//
//	goclient USER@HOST:PORT KEYFILE COMMAND
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: goclient USER@HOST:PORT KEYFILE COMMAND")
		os.Exit(2)
	}
	user, addr, found := strings.Cut(os.Args[1], "@")
	if !found {
		fail("target must be USER@HOST:PORT", nil)
	}
	pem, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("read key", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		fail("parse key", err)
	}
	var hostKeyType string
	config := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// The test has no known_hosts; it records which host key was offered.
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			hostKeyType = key.Type()
			return nil
		},
		Timeout: 10 * time.Second,
	}
	client, err := ssh.Dial("tcp", addr, config)
	if err != nil {
		fail("dial", err)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		fail("session", err)
	}
	defer session.Close()
	out, err := session.CombinedOutput(os.Args[3])
	if err != nil {
		fail("run: "+string(out), err)
	}
	fmt.Printf("server %s\nhostkey %s\n%s", client.ServerVersion(), hostKeyType, out)
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "goclient: %s: %v\n", what, err)
	os.Exit(1)
}
