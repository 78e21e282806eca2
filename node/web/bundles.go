package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
)

// Bundles on the connection page: the network carried in a file where no
// link goes (node/bundle.go). A summary and an export are made in a
// temporary folder and given to the browser as a download, then removed;
// bundles taken in are copied from the upload to a temporary folder under
// their own names (so a problem names the file the person chose), imported
// with the same checks as the network, and removed.

// uploadPaths are the writes that take files: their bodies may be large
// (uploadLimit), every other write's is small (formLimit).
var uploadPaths = map[string]bool{"/connection/import": true, "/connection/export": true}

const (
	formLimit   = 1 << 20
	uploadLimit = 4 << 30
	// memoryPart is how much of an upload is kept in memory; the rest
	// goes to temporary files, removed when the request ends.
	memoryPart = 1 << 20
)

// connection is the connection page, with the outcome of a bundle action.
func (s *Server) connection(p page, problem string, imported *node.ImportReport) {
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	st := s.n.Status()
	data := map[string]any{"Status": st, "Problem": problem, "HasSecret": s.n.HasSecret()}
	if imported != nil {
		data["Imported"] = importView(p, imported)
	}
	p.render("connection", data)
}

// importView is an import's outcome in the person's words.
func importView(p page, rep *node.ImportReport) map[string]any {
	var problems []string
	for _, fp := range rep.Problems {
		problems = append(problems, p.lang.T("bundle.unreadable", filepath.Base(fp.File)))
	}
	for _, f := range rep.Skipped {
		problems = append(problems, p.lang.T("bundle.summarygiven", filepath.Base(f)))
	}
	return map[string]any{"New": rep.New, "Held": rep.Held, "Refused": rep.Refused, "Waiting": rep.StillWaiting,
		"From": rep.From, "Missing": rep.Missing, "Problems": problems, "Files": rep.Files}
}

// tempFolder is a folder for a bundle action's files, and its removal.
func tempFolder() (string, func(), error) {
	dir, err := os.MkdirTemp("", "murmur-web-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// saveUploads copies the files uploaded in field to dir, under their own
// base names (made safe, and distinct), and returns their paths.
func saveUploads(r *http.Request, field, dir string) ([]string, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var paths []string
	seen := map[string]bool{}
	for i, fh := range r.MultipartForm.File[field] {
		name := safeName(fh.Filename)
		if seen[name] {
			name = fmt.Sprintf("%d-%s", i+1, name)
		}
		seen[name] = true
		path := filepath.Join(dir, name)
		if err := copyUpload(fh, path); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func copyUpload(fh *multipart.FileHeader, path string) error {
	in, err := fh.Open()
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// safeName is a file name from a browser, as a name in one folder: no
// folders, no leading dot, nothing but printable characters.
func safeName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ".")
	if len(name) > 100 {
		name = name[len(name)-100:]
	}
	if name == "" {
		name = "bundle"
	}
	return name
}

// importBundles takes in the bundle files chosen.
func (s *Server) importBundles(p page) {
	dir, done, err := tempFolder()
	if err != nil {
		s.connection(p, p.lang.T("bundle.tempfail"), nil)
		return
	}
	defer done()
	paths, err := saveUploads(p.r, "files", dir)
	switch {
	case err != nil:
		s.connection(p, p.lang.T("bundle.tempfail"), nil)
		return
	case len(paths) == 0:
		s.connection(p, p.lang.T("bundle.nofile"), nil)
		return
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Minute)
	defer cancel()
	rep, err := s.n.ImportBundles(ctx, paths, nil)
	switch {
	case errors.Is(err, node.ErrNoBundleKey):
		s.connection(p, p.lang.T("bundle.nosecret"), nil)
	case err != nil && rep.Files == 0 && len(rep.Skipped) > 0 && len(rep.Problems) == 0:
		s.connection(p, p.lang.T("bundle.onlysummary"), nil)
	case err != nil && rep.Files == 0:
		v := importView(p, &rep)
		s.connection(p, strings.Join(v["Problems"].([]string), " "), nil)
	case err != nil:
		// Cut off part way: what was stored is kept.
		s.connection(p, p.lang.T("bundle.interrupted"), &rep)
	default:
		s.connection(p, "", &rep)
	}
}

// exportBundle makes a bundle and gives it to the browser to save.
func (s *Server) exportBundle(p page) {
	f := p.r.PostForm
	dir, done, err := tempFolder()
	if err != nil {
		s.connection(p, p.lang.T("bundle.tempfail"), nil)
		return
	}
	defer done()
	o := node.BundleOptions{To: f.Get("to")}
	switch f.Get("basis") {
	case "for":
		paths, err := saveUploads(p.r, "for", dir)
		if err != nil || len(paths) != 1 {
			s.connection(p, p.lang.T("bundle.nosummary"), nil)
			return
		}
		o.For = paths[0]
	case "org":
		if o.Org = f.Get("org"); o.Org == "" {
			s.connection(p, p.lang.T("bundle.noorg"), nil)
			return
		}
	case "since":
		t, err := time.ParseInLocation("2006-01-02", f.Get("since"), time.Local)
		if err != nil {
			s.connection(p, p.lang.T("bundle.nosince"), nil)
			return
		}
		o.Since = t
	}
	out := filepath.Join(dir, "out.bundle")
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Minute)
	defer cancel()
	if _, err := s.n.ExportBundle(ctx, out, o); err != nil {
		key := "bundle.exportfail"
		switch {
		case errors.Is(err, node.ErrNoBundleKey):
			key = "bundle.nosecret"
		case errors.Is(err, node.ErrNothingKnown):
			key = "bundle.nothingknown"
		case o.For != "":
			key = "bundle.badsummary"
		}
		s.connection(p, p.lang.T(key), nil)
		return
	}
	download(p, out, "murmur-"+time.Now().Format("2006-01-02-1504")+".bundle")
}

// summary gives the browser a summary of what this node holds.
func (s *Server) summary(p page) {
	dir, done, err := tempFolder()
	if err != nil {
		s.connection(p, p.lang.T("bundle.tempfail"), nil)
		return
	}
	defer done()
	out := filepath.Join(dir, "out.summary")
	if _, err := s.n.WriteSummary(p.r.Context(), out); err != nil {
		key := "bundle.exportfail"
		if errors.Is(err, node.ErrNoBundleKey) {
			key = "bundle.nosecret"
		}
		s.connection(p, p.lang.T(key), nil)
		return
	}
	download(p, out, "murmur-"+time.Now().Format("2006-01-02-1504")+".summary")
}

// download sends a file the browser saves under name.
func download(p page, path, name string) {
	f, err := os.Open(path)
	if err != nil {
		p.s.connection(p, p.lang.T("bundle.tempfail"), nil)
		return
	}
	defer f.Close()
	h := p.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	if fi, err := f.Stat(); err == nil {
		h.Set("Content-Length", fmt.Sprint(fi.Size()))
	}
	io.Copy(p.w, f)
}
