// Command checkconf checks Corefiles as CoreDNS with failover and every
// standard plugin reads them at startup, without binding a port or probing:
//
//	checkconf [-q] Corefile...
//
// "-" reads a Corefile from standard input, named stdin in messages. It
// prints "FILE: ok" for each accepted file, and the problem, with its file and
// line, to standard error for each refused one. It exits 0 when every file is
// accepted, 1 when one is refused or unreadable, 2 on a usage error.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/failover-dns/failover/internal/checkconf"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// stdinName names standard input in messages; imports in it are relative to
// the working directory.
const stdinName = "stdin"

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Its own flag set: the CoreDNS packages register theirs (-conf, -p...)
	// on the command line's.
	flags := flag.NewFlagSet("checkconf", flag.ContinueOnError)
	flags.SetOutput(stderr)
	quiet := flags.Bool("q", false, "print nothing for an accepted Corefile")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: checkconf [-q] Corefile...\n\n"+
			"Checks each Corefile as CoreDNS with failover reads it at startup, without\n"+
			"binding ports or probing; - reads standard input. Exit status: 0 every file\n"+
			"accepted, 1 one refused, 2 usage error.\n\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return 2
	}
	status := 0
	for _, path := range flags.Args() {
		name, corefile, err := read(path, stdin)
		if err == nil {
			err = checkconf.Check(name, corefile)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = 1
			continue
		}
		if !*quiet {
			fmt.Fprintf(stdout, "%s: ok\n", name)
		}
	}
	return status
}

// read returns the name and contents of the Corefile at path, "-" for stdin.
func read(path string, stdin io.Reader) (string, []byte, error) {
	if path == "-" {
		corefile, err := io.ReadAll(stdin)
		if err != nil {
			return stdinName, nil, fmt.Errorf("%s: %w", stdinName, err)
		}
		return stdinName, corefile, nil
	}
	corefile, err := os.ReadFile(path)
	return path, corefile, err
}
