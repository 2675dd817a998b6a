// Command imgbuild builds a container image without a container engine or
// a registry: a static binary in a FROM-scratch root file system (with
// /tmp, /etc/passwd naming the non-root user 65532, optionally CA
// certificates), an entrypoint, labels and env, written as a docker-archive
// or an OCI-layout tarball that `docker load` and
// `ctr -n k8s.io image import` accept. The same inputs give the same image
// digest (times come from -created or SOURCE_DATE_EPOCH, default the epoch).
//
//	imgbuild -binary bin/linux_amd64/operator -tag rivetkube/operator:v0.1.0 \
//	         -o dist/images/operator.tar [-format docker|oci] [-path /app]
//	         [-user 65532:65532] [-env K=V]... [-label K=V]... [-arg A]...
//	         [-ca-certs /etc/ssl/certs/ca-certificates.crt] [-platform linux/amd64]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "imgbuild:", err)
		os.Exit(1)
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("imgbuild", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var s Spec
	var env, labels, cmdArgs listFlag
	fs.StringVar(&s.Binary, "binary", "", "static executable to put in the image (required)")
	tag := fs.String("tag", "", "image name and tag, e.g. rivetkube/operator:v0.1.0 (required)")
	out := fs.String("o", "", "output tarball (required)")
	format := fs.String("format", string(FormatDocker), "docker (docker-archive) or oci (OCI layout in a tar)")
	fs.StringVar(&s.Path, "path", "/app", "path of the binary in the image; the entrypoint")
	fs.StringVar(&s.User, "user", fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), "numeric uid[:gid] the image runs as")
	fs.Var(&env, "env", "KEY=VALUE in the image's environment (repeatable)")
	fs.Var(&labels, "label", "KEY=VALUE image label (repeatable)")
	fs.Var(&cmdArgs, "arg", "default argument after the entrypoint (repeatable)")
	fs.StringVar(&s.CACerts, "ca-certs", "", "CA bundle to install as /etc/ssl/certs/ca-certificates.crt")
	platform := fs.String("platform", "linux/amd64", "os/arch of the binary")
	created := fs.String("created", "", "creation time (RFC 3339); default SOURCE_DATE_EPOCH or the Unix epoch")
	fs.BoolVar(&s.AllowDynamic, "allow-dynamic", false, "accept a dynamically linked binary (it will not start in a scratch image)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if s.Binary == "" || *tag == "" || *out == "" {
		return fmt.Errorf("-binary, -tag and -o are required")
	}
	var ok bool
	if s.OS, s.Arch, ok = strings.Cut(*platform, "/"); !ok || s.OS == "" || s.Arch == "" {
		return fmt.Errorf("-platform %q: want os/arch", *platform)
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("-env %q: want KEY=VALUE", e)
		}
	}
	s.Env = env
	s.Args = cmdArgs
	if len(labels) > 0 {
		s.Labels = map[string]string{}
		for _, l := range labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok || k == "" {
				return fmt.Errorf("-label %q: want KEY=VALUE", l)
			}
			s.Labels[k] = v
		}
	}
	var err error
	if s.Created, err = createdTime(*created); err != nil {
		return err
	}
	f := Format(*format)
	img, err := Build(s, f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".imgbuild-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, img, *tag, f); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imgbuild: wrote %s (%s, %s, %s)\n", *out, f, *tag, digest)
	return nil
}

func createdTime(flagValue string) (time.Time, error) {
	if flagValue != "" {
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("-created: %w", err)
		}
		return t.UTC(), nil
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since the epoch", v)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}
