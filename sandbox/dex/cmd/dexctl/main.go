// Command dexctl runs Dex, a real OpenID Connect provider, beside a sandbox cluster so that
// jitgate's tests get real ID tokens: HTTPS on a free loopback port with a serving certificate
// from the sandbox CA, users alice, bob, carol and dave with groups, and the password and
// device-code grants enabled for the client `jitgate`.
//
//	dexctl up   --dir DIR --dex BIN   write DIR/dex/config.yaml, start BIN in the background, wait for discovery
//	dexctl down --dir DIR             stop the Dex started by up
//
// Everything goes into DIR/dex/: config.yaml, tls.crt/tls.key, ca.crt (a copy of DIR/pki/ca.crt,
// the CA to trust for the issuer), issuer (the issuer URL), users.json (emails, passwords and
// groups of the test users), client.json (client id and secret), state (pid, port, issuer as
// JSON) and dex.log. scripts/dex.sh builds both binaries and calls this.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

const usage = `usage: dexctl <command> [flags]

commands:
  up   --dir DIR --dex BIN [--timeout 30s]   start Dex for the sandbox in DIR and wait until it serves discovery
  down --dir DIR                             stop the Dex started by up
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "up":
		fs := flag.NewFlagSet("up", flag.ExitOnError)
		dir := fs.String("dir", "", "sandbox directory (holds pki/ca.crt and pki/ca.key)")
		bin := fs.String("dex", "", "path of the dex binary")
		timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for Dex to serve discovery")
		_ = fs.Parse(args)
		if *dir == "" || *bin == "" {
			err = errors.New("up needs --dir and --dex")
			break
		}
		err = up(*dir, *bin, *timeout)
	case "down":
		fs := flag.NewFlagSet("down", flag.ExitOnError)
		dir := fs.String("dir", "", "sandbox directory")
		_ = fs.Parse(args)
		if *dir == "" {
			err = errors.New("down needs --dir")
			break
		}
		err = down(*dir)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "dexctl: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dexctl %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
