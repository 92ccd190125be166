package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A new cluster is not ok for its first 2 s: a master Redis just started
// does not report the cluster ok before then (CLUSTER_WRITABLE_DELAY in
// Redis's cluster.c), which most tests on a cluster would spend waiting.
// So StartCluster hands out clusters started ahead, spares, and starts
// another each time: spareDepth of them are on their way or waiting.
//
// The spares' servers belong to no test until one takes them. So that none
// outlives the test process, even one killed by go test's timeout, they are
// started from one goroutine locked to its OS thread for good (forker), and
// the kernel kills them when that thread, which ends with the process, ends
// (dieWithParent; where that is not available, there are no spares).
var spares struct {
	once  sync.Once
	fork  chan forkAsk
	mu    sync.Mutex
	ahead []chan spareResult // the spares on their way, oldest first
}

// spareDepth is how many spares are started ahead: tests shorter than a
// cluster takes to start (most of a package's, on 2 busy cores up to 5 s)
// then still find one ready.
const spareDepth = 3

// forkAsk asks the forker to start cmd and send cmd.Start's error on done.
type forkAsk struct {
	cmd  *exec.Cmd
	done chan error
}

type spareResult struct {
	r   *Redis
	dir string
	err error
}

// spareCluster returns a spare cluster, owned by t from now on, and starts
// another; nil if spares are not available here, or the spare failed to
// start (the caller then starts a cluster itself).
func spareCluster(t testing.TB, bin string) *Redis {
	if !canDieWithParent {
		return nil
	}
	spares.once.Do(func() {
		removeDeadSpares()
		spares.fork = make(chan forkAsk)
		go func() {
			runtime.LockOSThread() // for good: the servers' parent thread lives as long as the process
			for a := range spares.fork {
				dieWithParent(a.cmd)
				a.done <- a.cmd.Start()
			}
		}()
	})
	spares.mu.Lock()
	for len(spares.ahead) < spareDepth+1 {
		out := make(chan spareResult, 1)
		go func() { out <- startSpare(bin) }()
		spares.ahead = append(spares.ahead, out)
	}
	next := spares.ahead[0]
	spares.ahead = spares.ahead[1:]
	spares.mu.Unlock()
	res := <-next
	if res.r != nil {
		t.Cleanup(func() {
			for _, s := range res.r.servers {
				s.kill()
			}
			os.RemoveAll(res.dir)
		})
	}
	if res.err != nil {
		t.Logf("no spare cluster (%v): starting one", res.err)
		return nil
	}
	return res.r
}

// forked starts cmd on the forker's thread.
func forked(cmd *exec.Cmd) error {
	done := make(chan error)
	spares.fork <- forkAsk{cmd, done}
	return <-done
}

// The directories of spares are named after the process that started
// them: the spares a process started ahead are never taken, and their
// directories stay when the process ends, until the next process that
// starts spares removes them (removeDeadSpares).
const spareDirPrefix = "testenv-cluster-"

// startSpare starts a cluster of clusterMasters plaintext masters, each in
// a directory under one of its own.
func startSpare(bin string) spareResult {
	dir, err := os.MkdirTemp("", spareDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return spareResult{err: err}
	}
	r := &Redis{Real: true, Cluster: true}
	res := spareResult{r: r, dir: dir}
	var addrs, buses []string
	for i := range clusterMasters {
		node := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(node, 0o700); err != nil {
			res.err = err
			return res
		}
		s, addr, bus, err := launch(bin, node, true, false, nil, nil, forked)
		if s != nil {
			r.servers = append(r.servers, s)
		}
		if err != nil {
			res.err = err
			return res
		}
		addrs, buses = append(addrs, addr), append(buses, bus)
	}
	r.Addr = strings.Join(addrs, ",")
	res.err = formCluster(addrs, buses, nil)
	return res
}

// removeDeadSpares removes the directories of spares whose process has
// ended.
func removeDeadSpares() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), spareDirPrefix+"*"))
	for _, d := range dirs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), spareDirPrefix), "-")
		if n, err := strconv.Atoi(pid); err == nil && !alive(n) {
			os.RemoveAll(d)
		}
	}
}
