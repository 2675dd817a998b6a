package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrDynamic is returned for a binary that needs a dynamic loader: it
// cannot start in a FROM-scratch image.
var ErrDynamic = errors.New("binary is dynamically linked (build it with CGO_ENABLED=0)")

// Format is the on-disk form of a built image.
type Format string

// The formats imgbuild writes; both load with `docker load` and
// `ctr -n k8s.io image import`.
const (
	FormatDocker Format = "docker" // docker-archive: manifest.json + config + layers
	FormatOCI    Format = "oci"    // OCI image layout (oci-layout, index.json, blobs/) in a tar
)

// NonRootUID is the user the images run as (distroless's "nonroot").
const NonRootUID = 65532

// Spec describes one image: a static binary in an otherwise empty root file
// system with /tmp, a non-root user and an entrypoint.
type Spec struct {
	// Binary is the path of the static executable on this machine.
	Binary string
	// Path is where the binary lives in the image (default /app).
	Path string
	// Args are appended to the entrypoint as the image's CMD.
	Args []string
	// Env holds KEY=VALUE pairs; PATH and SSL_CERT_FILE come first.
	Env []string
	// Labels are the image config labels (OCI annotations keys).
	Labels map[string]string
	// User is "uid:gid" (default 65532:65532).
	User string
	// CACerts, when set, is copied to /etc/ssl/certs/ca-certificates.crt so
	// TLS to PostgreSQL and other servers verifies.
	CACerts string
	// OS and Arch of the binary (default linux, amd64).
	OS, Arch string
	// Created stamps the config and every file (default: the Unix epoch, so
	// the same inputs give the same digest).
	Created time.Time
	// AllowDynamic skips the static-binary check.
	AllowDynamic bool
}

func (s *Spec) defaults() {
	if s.Path == "" {
		s.Path = "/app"
	}
	if s.User == "" {
		s.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	}
	if s.OS == "" {
		s.OS = "linux"
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	if s.Created.IsZero() {
		s.Created = time.Unix(0, 0).UTC()
	}
}

// Build returns the image of s with media types of the given format.
func Build(s Spec, f Format) (v1.Image, error) {
	s.defaults()
	if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path || s.Path == "/" {
		return nil, fmt.Errorf("path %q: want a clean absolute file path", s.Path)
	}
	for _, reserved := range []string{"/tmp", "/etc", "/home"} {
		if s.Path == reserved || strings.HasPrefix(s.Path, reserved+"/") {
			return nil, fmt.Errorf("path %q: %s belongs to the image's own files", s.Path, reserved)
		}
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	if !s.AllowDynamic {
		if err := checkStatic(bin); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Binary, err)
		}
	}
	var certs []byte
	if s.CACerts != "" {
		if certs, err = os.ReadFile(s.CACerts); err != nil {
			return nil, fmt.Errorf("read CA certificates: %w", err)
		}
	}
	uid, gid, err := parseUser(s.User)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootfs(s, bin, certs, uid, gid)
	if err != nil {
		return nil, err
	}

	base := empty.Image
	layerType := types.DockerLayer
	switch f {
	case FormatDocker:
	case FormatOCI:
		base = mutate.MediaType(mutate.ConfigMediaType(base, types.OCIConfigJSON), types.OCIManifestSchema1)
		layerType = types.OCILayer
	default:
		return nil, fmt.Errorf("format %q: want docker or oci", f)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: s.Created},
			CreatedBy: "imgbuild: " + path.Base(s.Path),
			Comment:   "static binary, /tmp, non-root user",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = s.OS, s.Arch
	cf.Created = v1.Time{Time: s.Created}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if certs != nil {
		env = append(env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	}
	env = append(env, s.Env...)
	cf.Config = v1.Config{
		Entrypoint: []string{s.Path},
		Cmd:        s.Args,
		Env:        env,
		User:       s.User,
		WorkingDir: "/",
		Labels:     s.Labels,
	}
	return mutate.ConfigFile(img, cf)
}

// Write writes img as a tarball of format f, tagged ref.
func Write(w io.Writer, img v1.Image, ref string, f Format) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	switch f {
	case FormatDocker:
		return tarball.Write(tag, img, w)
	case FormatOCI:
		return writeOCI(w, img, tag)
	default:
		return fmt.Errorf("format %q: want docker or oci", f)
	}
}

// checkStatic fails when an ELF binary asks for a program interpreter
// (ld-linux), which a scratch image does not have. Non-ELF files pass: the
// image may be built for a test or another OS.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrDynamic
		}
	}
	return nil
}

func parseUser(u string) (uid, gid int, err error) {
	parts := strings.Split(u, ":")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("user %q: want uid or uid:gid", u)
	}
	if _, err := fmt.Sscanf(parts[0], "%d", &uid); err != nil || uid < 0 || fmt.Sprint(uid) != parts[0] {
		return 0, 0, fmt.Errorf("user %q: want a numeric uid (a scratch image has no user database to look names up in)", u)
	}
	gid = uid
	if len(parts) == 2 {
		if _, err := fmt.Sscanf(parts[1], "%d", &gid); err != nil || gid < 0 || fmt.Sprint(gid) != parts[1] {
			return 0, 0, fmt.Errorf("user %q: want a numeric gid", u)
		}
	}
	return uid, gid, nil
}

// rootfs is the single layer: directories, /etc/passwd and /etc/group
// naming the user (so os/user and tools that print it work), the
// certificates and the binary, in a fixed order with fixed times.
func rootfs(s Spec, bin, certs []byte, uid, gid int) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	home := "/home/nonroot"
	dirs := map[string]*tar.Header{}
	addDir := func(p string, mode int64, uid, gid int) {
		dirs[p] = &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode, Uid: uid, Gid: gid, ModTime: s.Created, Format: tar.FormatPAX}
	}
	addDir("/tmp", 0o1777, 0, 0)
	addDir("/etc", 0o755, 0, 0)
	addDir(home, 0o700, uid, gid)
	// Parents of every file and directory, owned by root.
	files := []string{"/etc/passwd", "/etc/group", s.Path}
	if certs != nil {
		files = append(files, "/etc/ssl/certs/ca-certificates.crt")
	}
	for _, p := range append(files, home) {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				addDir(d, 0o755, 0, 0)
			}
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := tw.WriteHeader(dirs[d]); err != nil {
			return nil, err
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, gid, home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", gid)
	if uid == 0 {
		passwd = "root:x:0:0:root:/root:/sbin/nologin\n"
	}
	if gid == 0 {
		group = "root:x:0:\n"
	}
	add := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(data)), ModTime: s.Created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("/etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := add("/etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	if certs != nil {
		if err := add("/etc/ssl/certs/ca-certificates.crt", 0o644, certs); err != nil {
			return nil, err
		}
	}
	if err := add(s.Path, 0o755, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
