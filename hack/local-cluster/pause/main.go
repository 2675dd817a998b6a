// Command pause is the pod sandbox ("pause") container of the local cluster
// (hack/local-cluster.sh): it holds the pod's namespaces open and does
// nothing else. It sleeps until SIGTERM or SIGINT and, as PID 1 of a pod
// that shares its process namespace, reaps children that end up with it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
