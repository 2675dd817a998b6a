package chaosactors

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// LogEnv names the activation log file; RunnerEnv names the runner in it.
const (
	LogEnv    = "CHAOS_ACTIVATION_LOG"
	RunnerEnv = "CHAOS_RUNNER_NAME"
)

// Entry is one line of the activation log.
type Entry struct {
	Actor  string `json:"actor"` // name/key
	Gen    uint64 `json:"gen"`
	Runner string `json:"runner"`
	Event  string `json:"event"` // wake, sleep or act
	Op     string `json:"op,omitempty"`
	T      int64  `json:"t"` // unix nanoseconds
}

var actlog struct {
	once   sync.Once
	f      *os.File
	runner string
}

// runnerName names this process in the log and in answers.
func runnerName() string {
	openLog()
	return actlog.runner
}

func logEntry(actor string, gen uint64, event, op string) {
	openLog()
	if actlog.f == nil {
		return
	}
	b, _ := json.Marshal(Entry{Actor: actor, Gen: gen, Runner: actlog.runner, Event: event, Op: op, T: time.Now().UnixNano()})
	_, _ = actlog.f.Write(append(b, '\n'))
}

func openLog() {
	actlog.once.Do(func() {
		actlog.runner = fmt.Sprintf("%s/%d", os.Getenv(RunnerEnv), os.Getpid())
		path := os.Getenv(LogEnv)
		if path == "" {
			return
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaosactors: activation log:", err)
			return
		}
		actlog.f = f
	})
}
