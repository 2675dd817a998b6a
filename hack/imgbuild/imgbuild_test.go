package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var tiny struct {
	once sync.Once
	path string
	err  error
}

// tinyBinary builds (once) a static Go program that prints a greeting.
func tinyBinary(t *testing.T) string {
	t.Helper()
	tiny.once.Do(func() {
		dir, err := os.MkdirTemp("", "imgbuild-tiny-")
		if err != nil {
			tiny.err = err
			return
		}
		src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the image\") }\n"
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			tiny.err = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.26\n"), 0o644); err != nil {
			tiny.err = err
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "tiny", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			tiny.err = errors.New("go build: " + err.Error() + ": " + string(out))
			return
		}
		tiny.path = filepath.Join(dir, "tiny")
	})
	if tiny.err != nil {
		t.Fatal(tiny.err)
	}
	return tiny.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tiny.path != "" {
		os.RemoveAll(filepath.Dir(tiny.path))
	}
	os.Exit(code)
}

// layerFiles reads the image's single layer: headers and contents by path.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("layers = %d, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := hdrs[h.Name]; dup {
			t.Errorf("layer holds %s twice", h.Name)
		}
		hdrs[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[h.Name] = b
		}
	}
	return hdrs, data
}

// checkImage checks what every image built from the tiny binary has.
func checkImage(t *testing.T, img v1.Image, bin string, wantLayer types.MediaType) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/app"}) {
		t.Errorf("entrypoint = %q, want [/app]", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"--leader-elect"}) {
		t.Errorf("cmd = %q", c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532", c.User)
	}
	if !slices.Contains(c.Env, "RIVETKUBE_LOG_FORMAT=json") || !strings.HasPrefix(c.Env[0], "PATH=") {
		t.Errorf("env = %q", c.Env)
	}
	if c.Labels["org.opencontainers.image.version"] != "v1.2.3" || c.Labels["org.opencontainers.image.title"] != "tiny" {
		t.Errorf("labels = %v", c.Labels)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s", cf.OS, cf.Architecture)
	}
	if len(cf.RootFS.DiffIDs) != 1 || len(cf.History) != 1 {
		t.Errorf("diff ids %d, history %d; want 1 and 1", len(cf.RootFS.DiffIDs), len(cf.History))
	}
	layers, _ := img.Layers()
	if mt, _ := layers[0].MediaType(); mt != wantLayer {
		t.Errorf("layer media type = %s, want %s", mt, wantLayer)
	}

	hdrs, data := layerFiles(t, img)
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	app := hdrs["app"]
	if app == nil || app.Typeflag != tar.TypeReg || app.Mode != 0o755 || app.Uid != 0 {
		t.Fatalf("app header = %+v", app)
	}
	if !bytes.Equal(data["app"], want) {
		t.Error("app differs from the binary")
	}
	if h := hdrs["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("tmp/ header = %+v, want a 1777 directory", h)
	}
	if h := hdrs["home/nonroot/"]; h == nil || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("home/nonroot/ header = %+v, want owned by 65532", h)
	}
	if !strings.Contains(string(data["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd = %q", data["etc/passwd"])
	}
	if _, ok := data["etc/ssl/certs/ca-certificates.crt"]; !ok {
		t.Error("no CA bundle")
	}
	if !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("env %q lacks SSL_CERT_FILE", c.Env)
	}

	// The binary in the layer still runs.
	run := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(run, data["app"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(run).Output()
	if err != nil || string(out) != "hello from the image\n" {
		t.Errorf("running the image's binary: %q, %v", out, err)
	}
}

func buildArgs(t *testing.T, out, format string) []string {
	certs := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{
		"-binary", tinyBinary(t), "-tag", "example.test/tiny:v1.2.3", "-o", out, "-format", format,
		"-env", "RIVETKUBE_LOG_FORMAT=json", "-arg", "--leader-elect",
		"-label", "org.opencontainers.image.title=tiny", "-label", "org.opencontainers.image.version=v1.2.3",
		"-ca-certs", certs, "-platform", "linux/" + runtime.GOARCH,
	}
}

func TestDockerArchive(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "tiny.tar")
	if err := run(buildArgs(t, out, "docker"), io.Discard); err != nil {
		t.Fatal(err)
	}
	mf, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(mf) != 1 || !slices.Equal(mf[0].RepoTags, []string{"example.test/tiny:v1.2.3"}) {
		t.Fatalf("manifest.json = %+v", mf)
	}
	tag, _ := name.NewTag("example.test/tiny:v1.2.3")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := img.MediaType(); mt != types.DockerManifestSchema2 {
		t.Errorf("manifest media type = %s", mt)
	}
	checkImage(t, img, tinyBinary(t), types.DockerLayer)
}

func TestOCILayout(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "tiny.tar")
	if err := run(buildArgs(t, out, "oci"), io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := untar(t, out)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(im.Manifests))
	}
	d := im.Manifests[0]
	if d.Annotations[annotationContainerdName] != "example.test/tiny:v1.2.3" || d.Annotations[annotationRefName] != "v1.2.3" {
		t.Errorf("annotations = %v", d.Annotations)
	}
	if d.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s", d.MediaType)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type = %s", m.Config.MediaType)
	}
	checkImage(t, img, tinyBinary(t), types.OCILayer)
}

func TestDockerHubNameInOCIIndex(t *testing.T) {
	t.Parallel()
	img, err := Build(Spec{Binary: tinyBinary(t)}, FormatOCI)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "op.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, img, "rivetkube/operator:v0.1.0", FormatOCI); err != nil {
		t.Fatal(err)
	}
	f.Close()
	idx, err := layout.ImageIndexFromPath(untar(t, out))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	// Kubernetes asks containerd for docker.io/rivetkube/operator:v0.1.0.
	if got := im.Manifests[0].Annotations[annotationContainerdName]; got != "docker.io/rivetkube/operator:v0.1.0" {
		t.Errorf("image name in index.json = %q, want docker.io/rivetkube/operator:v0.1.0", got)
	}
}

func TestReproducible(t *testing.T) {
	t.Parallel()
	digest := func(s Spec) v1.Hash {
		t.Helper()
		img, err := Build(s, FormatDocker)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	bin := tinyBinary(t)
	a, b := digest(Spec{Binary: bin}), digest(Spec{Binary: bin})
	if a != b {
		t.Errorf("same inputs, digests %s and %s", a, b)
	}
	if c := digest(Spec{Binary: bin, User: "1000"}); c == a {
		t.Error("another user gave the same digest")
	}
}

func TestRejectsDynamicBinary(t *testing.T) {
	t.Parallel()
	const dyn = "/bin/true"
	f, err := elf.Open(dyn)
	if err != nil {
		t.Skipf("no ELF %s: %v", dyn, err)
	}
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !interp {
		t.Skipf("%s is static", dyn)
	}
	if _, err := Build(Spec{Binary: dyn}, FormatDocker); !errors.Is(err, ErrDynamic) {
		t.Errorf("err = %v, want ErrDynamic", err)
	}
	if _, err := Build(Spec{Binary: dyn, AllowDynamic: true}, FormatDocker); err != nil {
		t.Errorf("with AllowDynamic: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	bin := tinyBinary(t)
	out := filepath.Join(t.TempDir(), "x.tar")
	base := []string{"-binary", bin, "-tag", "x/y:1", "-o", out}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no binary", []string{"-tag", "x/y:1", "-o", out}, "required"},
		{"missing binary", []string{"-binary", "/nonexistent", "-tag", "x/y:1", "-o", out}, "read binary"},
		{"user name", append(base, "-user", "nonroot"), "numeric uid"},
		{"bad gid", append(base, "-user", "1:x"), "numeric gid"},
		{"relative path", append(base, "-path", "app"), "absolute"},
		{"path in /tmp", append(base, "-path", "/tmp/app"), "/tmp"},
		{"format", append(base, "-format", "zip"), "want docker or oci"},
		{"platform", append(base, "-platform", "amd64"), "os/arch"},
		{"env", append(base, "-env", "NOEQUALS"), "KEY=VALUE"},
		{"label", append(base, "-label", "=v"), "KEY=VALUE"},
		{"tag", []string{"-binary", bin, "-tag", "Bad Name", "-o", out}, "image name"},
		{"created", append(base, "-created", "yesterday"), "-created"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s behind", out)
	}
}

// untar unpacks the tarball at p into a new directory.
func untar(t *testing.T, p string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
