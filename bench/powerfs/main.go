// powerfs: a filesystem that forgets what was never synced, for power-loss tests.
//
//	powerfs BACKING MOUNTPOINT
//
// Mounts BACKING at MOUNTPOINT (FUSE, as root) and prints "mounted" once it is served. File data
// written through the mount is kept in this process's memory until the file is fsynced or
// fdatasynced; only then does it reach BACKING. Signals:
//
//	SIGUSR1  power loss: every unsynced byte is dropped ("dropped N unsynced pages of M files"
//	         printed), the mount is detached, exit 0
//	SIGTERM  clean stop: every unsynced byte is written and synced first (an orderly OS
//	         shutdown), then the same
//
// The model is a disk whose file data is durable only once synced, and nothing more: creates,
// renames, removes and truncations reach BACKING at once, as if every directory operation were
// synced. A crash test that kills the processes using the mount and then sends SIGUSR1 sees what
// a power loss of the whole machine would leave, minus the directory-entry losses a real
// filesystem may add. Writes are held in 4 KiB pages, so reads, sizes and syncs cost no more
// than the data they touch.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

const pageSize = 4096

// unsynced is one file's data written since its last sync.
type unsynced struct {
	mu    sync.Mutex
	pages map[int64][]byte // page index -> the whole page as the file now reads
	size  int64            // the file's size including unsynced writes; -1: the backing size
}

// files holds the unsynced data of every file, by its backing inode number, so that every
// handle of a file (and a handle opened after another closed) sees the same bytes.
var files = struct {
	sync.Mutex
	byIno map[uint64]*unsynced
}{byIno: map[uint64]*unsynced{}}

func unsyncedOf(ino uint64) *unsynced {
	files.Lock()
	defer files.Unlock()
	u, ok := files.byIno[ino]
	if !ok {
		u = &unsynced{pages: map[int64][]byte{}, size: -1}
		files.byIno[ino] = u
	}
	return u
}

// forget drops a file's unsynced data when its inode may be reused (removed or replaced).
func forget(path string) {
	var st syscall.Stat_t
	if syscall.Lstat(path, &st) == nil && st.Nlink <= 1 {
		files.Lock()
		delete(files.byIno, st.Ino)
		files.Unlock()
	}
}

func backingSize(fd int) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// sizeWith is the size readers see: the backing size, or larger with unsynced appends.
func (u *unsynced) sizeWith(backing int64) int64 {
	if u.size < 0 {
		return backing
	}
	return u.size
}

// page returns page p for writing, read from the backing file on first touch.
func (u *unsynced) page(fd int, p int64) ([]byte, error) {
	if pg, ok := u.pages[p]; ok {
		return pg, nil
	}
	pg := make([]byte, pageSize)
	if _, err := syscall.Pread(fd, pg, p*pageSize); err != nil {
		return nil, err
	}
	u.pages[p] = pg
	return pg, nil
}

func (u *unsynced) write(fd int, data []byte, off int64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	backing, err := backingSize(fd)
	if err != nil {
		return err
	}
	for done := 0; done < len(data); {
		at := off + int64(done)
		pg, err := u.page(fd, at/pageSize)
		if err != nil {
			return err
		}
		done += copy(pg[at%pageSize:], data[done:])
	}
	if end := off + int64(len(data)); end > u.sizeWith(backing) {
		u.size = end
	}
	return nil
}

func (u *unsynced) read(fd int, dest []byte, off int64) ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	backing, err := backingSize(fd)
	if err != nil {
		return nil, err
	}
	size := u.sizeWith(backing)
	if off >= size {
		return dest[:0], nil
	}
	out := dest[:min(int64(len(dest)), size-off)]
	clear(out)
	if _, err := syscall.Pread(fd, out, off); err != nil {
		return nil, err
	}
	for done := 0; done < len(out); {
		at := off + int64(done)
		n := min(len(out)-done, int(pageSize-at%pageSize))
		if pg, ok := u.pages[at/pageSize]; ok {
			copy(out[done:done+n], pg[at%pageSize:])
		}
		done += n
	}
	return out, nil
}

// sync writes the unsynced pages through fd and fdatasyncs it.
func (u *unsynced) sync(fd int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	backing, err := backingSize(fd)
	if err != nil {
		return err
	}
	size := u.sizeWith(backing)
	for p, pg := range u.pages {
		n := min(int64(pageSize), size-p*pageSize)
		if n <= 0 {
			continue
		}
		if _, err := syscall.Pwrite(fd, pg[:n], p*pageSize); err != nil {
			return err
		}
	}
	u.pages = map[int64][]byte{}
	u.size = -1
	return syscall.Fdatasync(fd)
}

// truncated follows a truncation of the backing file to size; the caller holds u.mu.
func (u *unsynced) truncated(size int64) {
	for p, pg := range u.pages {
		switch {
		case p*pageSize >= size:
			delete(u.pages, p)
		case (p+1)*pageSize > size:
			clear(pg[size-p*pageSize:])
		}
	}
	u.size = -1
}

// node is a loopback node whose sizes include unsynced writes and whose files hold them.
type node struct {
	fs.LoopbackNode
	ino uint64
}

func newNode(root *fs.LoopbackRoot, _ *fs.Inode, _ string, st *syscall.Stat_t) fs.InodeEmbedder {
	return &node{LoopbackNode: fs.LoopbackNode{RootData: root}, ino: st.Ino}
}

func (n *node) backingPath(name string) string {
	return n.RootData.Path + "/" + n.Path(n.Root()) + "/" + name
}

// attr runs stat (of the backing file) and reports the size with unsynced writes. Both under
// the file's lock: a sync between the two would make the file look shorter than the kernel
// knows it, and reads at its end would come back short.
func (n *node) attr(stat func() syscall.Errno, size *uint64) syscall.Errno {
	u := unsyncedOf(n.ino)
	u.mu.Lock()
	defer u.mu.Unlock()
	errno := stat()
	if errno == 0 && u.size >= 0 {
		*size = uint64(u.size)
	}
	return errno
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Lookup(ctx, name, out)
	if errno != 0 {
		return ch, errno
	}
	// Stat again by name: the child is not linked under n yet, so it has no path of its own.
	if child, ok := ch.Operations().(*node); ok {
		errno = child.attr(func() syscall.Errno {
			var st syscall.Stat_t
			if err := syscall.Lstat(n.backingPath(name), &st); err != nil {
				return fs.ToErrno(err)
			}
			out.Attr.FromStat(&st)
			return 0
		}, &out.Attr.Size)
	}
	return ch, errno
}

func (n *node) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.attr(func() syscall.Errno { return n.LoopbackNode.Getattr(ctx, nil, out) }, &out.Attr.Size)
}

func (n *node) Statx(ctx context.Context, _ fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	return n.attr(func() syscall.Errno { return n.LoopbackNode.Statx(ctx, nil, flags, mask, out) }, &out.Size)
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok {
		f = h.file
	}
	return n.attr(func() syscall.Errno {
		errno := n.LoopbackNode.Setattr(ctx, f, in, out)
		if size, ok := in.GetSize(); ok && errno == 0 {
			unsyncedOf(n.ino).truncated(int64(size))
		}
		return errno
	}, &out.Attr.Size)
}

// CopyFileRange would copy backing bytes only; refusing it makes the kernel read and write.
func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	forget(n.backingPath(name))
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if p, ok := newParent.(*node); ok {
		forget(p.backingPath(newName))
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *node) wrap(fh fs.FileHandle) fs.FileHandle {
	if lf, ok := fh.(*fs.LoopbackFile); ok {
		return &handle{file: lf, data: unsyncedOf(n.ino)}
	}
	return fh
}

// readWrite opens every file for reading and writing: a write reads the rest of its page, and a
// read-only handle may be the one asked to sync.
func readWrite(flags uint32) uint32 {
	return flags&^syscall.O_ACCMODE | syscall.O_RDWR
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, readWrite(flags))
	return n.wrap(fh), fuseFlags, errno
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	forget(n.backingPath(name))
	ch, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, readWrite(flags), mode, out)
	if errno != 0 {
		return ch, fh, fuseFlags, errno
	}
	if child, ok := ch.Operations().(*node); ok {
		fh = child.wrap(fh)
	}
	return ch, fh, fuseFlags, errno
}

// handle is an open file: reads and writes go through the file's unsynced pages. It wraps the
// loopback file rather than embedding it, so that none of the loopback's other ways to the
// backing file (kernel passthrough, Writev, Allocate) is offered to the kernel.
type handle struct {
	file *fs.LoopbackFile
	data *unsynced
}

func (h *handle) fd() int {
	fd, _ := h.file.PassthroughFd()
	return fd
}

func (h *handle) Release(ctx context.Context) syscall.Errno { return h.file.Release(ctx) }

func (h *handle) Flush(ctx context.Context) syscall.Errno { return h.file.Flush(ctx) }

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	out, err := h.data.read(h.fd(), dest, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(out), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if err := h.data.write(h.fd(), data, off); err != nil {
		return 0, fs.ToErrno(err)
	}
	return uint32(len(data)), 0
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return fs.ToErrno(h.data.sync(h.fd()))
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	h.data.mu.Lock() // as node.attr: stat and size together
	defer h.data.mu.Unlock()
	errno := h.file.Getattr(ctx, out)
	if errno == 0 && h.data.size >= 0 {
		out.Attr.Size = uint64(h.data.size)
	}
	return errno
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: powerfs BACKING MOUNTPOINT")
		os.Exit(2)
	}
	backing, mountpoint := os.Args[1], os.Args[2]
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		fmt.Fprintln(os.Stderr, "powerfs:", err)
		os.Exit(1)
	}
	root := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev), NewNode: newNode}
	root.RootNode = newNode(root, nil, "", &st)
	server, err := fs.Mount(mountpoint, root.RootNode, &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName: "powerfs", Name: "powerfs", DirectMountStrict: true, AllowOther: true,
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "powerfs: mount:", err)
		os.Exit(1)
	}
	if err := server.WaitMount(); err != nil {
		fmt.Fprintln(os.Stderr, "powerfs: mount:", err)
		os.Exit(1)
	}
	fmt.Println("mounted")

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	if <-signals == syscall.SIGUSR1 {
		fmt.Println(dropped())
	} else {
		syncAll(backing)
	}
	// Detach: the kernel drops the mount's page cache, and nothing unsynced is ever written.
	_ = syscall.Unmount(mountpoint, syscall.MNT_DETACH)
	os.Exit(0)
}

// dropped says how much unsynced data a power loss drops.
func dropped() string {
	files.Lock()
	defer files.Unlock()
	pages, touched := 0, 0
	for _, u := range files.byIno {
		u.mu.Lock()
		if len(u.pages) > 0 {
			pages += len(u.pages)
			touched++
		}
		u.mu.Unlock()
	}
	return fmt.Sprintf("dropped %d unsynced pages of %d files", pages, touched)
}

// syncAll writes every file's unsynced pages, as an orderly shutdown would.
func syncAll(backing string) {
	files.Lock()
	defer files.Unlock()
	_ = walkInodes(backing, func(path string, ino uint64) {
		if u, ok := files.byIno[ino]; ok {
			if fd, err := syscall.Open(path, syscall.O_WRONLY, 0); err == nil {
				_ = u.sync(fd)
				syscall.Close(fd)
			}
		}
	})
}

func walkInodes(dir string, visit func(path string, ino uint64)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := dir + "/" + e.Name()
		if e.IsDir() {
			_ = walkInodes(path, visit)
			continue
		}
		var st syscall.Stat_t
		if syscall.Lstat(path, &st) == nil {
			visit(path, st.Ino)
		}
	}
	return nil
}
