package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// server is the process that serves the endpoints: ./server.
type server struct {
	cmd    *exec.Cmd
	in     *os.File
	out    *bufio.Scanner
	port   int
	caFile string // with -check https: the CA of the server's certificate, in PEM
	tmp    string
	close  func()
}

type serverStats struct {
	cpu, user, sys         time.Duration
	requests, fewest, most uint64
	resumed, full          uint64 // TLS handshakes
}

// startServer builds the server unless bin names it, and starts it serving
// check (http, https or tcp), with a certificate of key kind certKey for https.
func startServer(bin, cpus string, base netip.Addr, n, hang int, check, certKey string) *server {
	dir, err := os.MkdirTemp("", "bench-scale")
	if err != nil {
		fatalf("%v", err)
	}
	s := &server{tmp: dir, caFile: filepath.Join(dir, "ca.pem")}
	if bin == "" {
		bin = filepath.Join(dir, "server")
		goCmd := os.Getenv("GO")
		if goCmd == "" {
			goCmd = "go"
		}
		build := exec.Command(goCmd, "build", "-o", bin, "./bench/scale/server")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fatalf("building the server (run from the repository root): %v", err)
		}
	}
	args := []string{bin, "-base", base.String(), "-n", fmt.Sprint(n), "-hang", fmt.Sprint(hang),
		"-check", check, "-cert-key", certKey, "-ca", s.caFile}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stderr = os.Stderr
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		fatalf("%v", err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		fatalf("%v", err)
	}
	if err := s.cmd.Start(); err != nil {
		fatalf("starting the server: %v", err)
	}
	s.close = func() {
		stdin.Close() // the server exits
		s.cmd.Wait()
		os.RemoveAll(s.tmp)
	}
	s.in = stdin.(*os.File)
	s.out = bufio.NewScanner(stdout)
	if !s.out.Scan() {
		s.close()
		fatalf("the server did not start")
	}
	if _, err := fmt.Sscanf(s.out.Text(), "ready %d", &s.port); err != nil {
		s.close()
		fatalf("server said %q", s.out.Text())
	}
	return s
}

// stats asks the server for its CPU time, and the requests and TLS
// handshakes since the last call.
func (s *server) stats() serverStats {
	fmt.Fprintln(s.in, "stats")
	var st serverStats
	var user, sys int64
	if !s.out.Scan() {
		fatalf("the server stopped")
	}
	if _, err := fmt.Sscanf(s.out.Text(), "stats %d %d %d %d %d %d %d", &user, &sys, &st.requests, &st.fewest, &st.most, &st.resumed, &st.full); err != nil {
		fatalf("server said %q", s.out.Text())
	}
	st.user, st.sys = time.Duration(user), time.Duration(sys)
	st.cpu = st.user + st.sys
	return st
}

// fail makes count addresses fail in mode (refuse, hang or error): the
// address of index first and every stride-th after it. It returns once they
// do.
func (s *server) fail(mode string, first, count, stride int) {
	fmt.Fprintf(s.in, "fail %s %d %d %d\n", mode, first, count, stride)
	var failed int
	if !s.out.Scan() {
		fatalf("the server stopped")
	}
	if _, err := fmt.Sscanf(s.out.Text(), "failed %d", &failed); err != nil || failed != count {
		fatalf("server said %q to fail %d addresses", s.out.Text(), count)
	}
}
