package actors

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/rivet"
)

// The examples below call other actors and wait on slow work. Each such
// call is a wait point: the actor serves other requests meanwhile (see
// docs/concurrency.md).

// InventoryState is the stock of an inventory.
type InventoryState struct {
	Stock int64 `cbor:"stock"`
}

// InitialStock is the stock a new inventory starts with.
const InitialStock = 100

// Inventory keeps a stock; reserve subtracts from it.
var Inventory = rivet.New("inventory", rivet.Options[InventoryState]{
	CreateState: func(*rivet.Ctx[InventoryState], rivet.Raw) (InventoryState, error) {
		return InventoryState{Stock: InitialStock}, nil
	},
}).
	Action("reserve", func(c *rivet.Ctx[InventoryState], amount int64) (int64, error) {
		if amount <= 0 {
			return 0, rivet.NewUserError("invalid_amount", "amount must be positive", nil)
		}
		if amount > c.State().Stock {
			return 0, rivet.NewUserError("out_of_stock", "not enough stock", map[string]int64{"stock": c.State().Stock})
		}
		c.State().Stock -= amount
		return c.State().Stock, nil
	}).
	Action("getStock", func(c *rivet.Ctx[InventoryState]) (int64, error) { return c.State().Stock, nil })

// Order reserves one item of the "main" inventory through the actor's client.
var Order = rivet.New("order", rivet.Options[struct{}]{}).
	Action("process", func(c *rivet.Ctx[struct{}]) (int64, error) {
		return client.Call[int64](c, c.Client().GetOrCreate("inventory", []string{"main"}), "reserve", 1)
	})

// RoomListState lists the rooms an organization created.
type RoomListState struct {
	Rooms []string `cbor:"rooms"`
}

// ChatRoomList is keyed by [org]; addRoom creates the chatRoom [org, name].
var ChatRoomList = rivet.New("chatRoomList", rivet.Options[RoomListState]{
	CreateState: func(*rivet.Ctx[RoomListState], rivet.Raw) (RoomListState, error) {
		return RoomListState{Rooms: []string{}}, nil
	},
}).
	Action("addRoom", func(c *rivet.Ctx[RoomListState], name string) (string, error) {
		key := c.Key()
		if len(key) != 1 {
			return "", rivet.NewUserError("invalid_key", "chatRoomList is keyed by [org]", nil)
		}
		if _, err := c.Client().Create(c, "chatRoom", []string{key[0], name}); err != nil {
			var ae *client.ActorError
			if errors.As(err, &ae) && ae.Code == "duplicate_key" {
				return "", rivet.NewUserError("room_exists", fmt.Sprintf("room %q exists", name), nil)
			}
			return "", err
		}
		c.State().Rooms = append(c.State().Rooms, name)
		return name, nil
	}).
	Action("listRooms", func(c *rivet.Ctx[RoomListState]) ([]string, error) { return c.State().Rooms, nil })

// WorkerState is the value a counterWorker's Run loop keeps.
type WorkerState struct {
	Value int64 `cbor:"value"`
}

// Mutation is the body of a message on counterWorker's "mutate" queue.
type Mutation struct {
	Delta int64 `cbor:"delta"`
}

// CounterWorker adds the delta of each "mutate" message to its value.
var CounterWorker = rivet.New("counterWorker", rivet.Options[WorkerState]{
	Queues: []string{"mutate"},
	Run: func(c *rivet.Ctx[WorkerState], q *rivet.Queue) error {
		for {
			msg, err := q.Next(c, "mutate")
			if err != nil {
				return err
			}
			var m Mutation
			if err := msg.Decode(&m); err != nil {
				c.Log().Warn("counterWorker: bad message", "err", err)
				continue
			}
			c.State().Value += m.Delta
		}
	},
}).
	Action("getValue", func(c *rivet.Ctx[WorkerState]) (int64, error) { return c.State().Value, nil })

// ReminderState is the message a reminder will send.
type ReminderState struct {
	Message string `cbor:"message"`
}

// Reminder is the payload of the "reminder" event.
type Reminder struct {
	Message string `cbor:"message"`
}

// ReminderActor broadcasts "reminder" after the delay setReminder asked for.
var ReminderActor = rivet.New("reminder", rivet.Options[ReminderState]{}).
	Action("setReminder", func(c *rivet.Ctx[ReminderState], message string, delayMs int64) (string, error) {
		if delayMs < 0 || delayMs > int64(365*24*time.Hour/time.Millisecond) {
			return "", rivet.NewUserError("invalid_delay", "delayMs must be between 0 and one year", nil)
		}
		c.State().Message = message
		return c.Schedule().After(time.Duration(delayMs)*time.Millisecond, "sendReminder")
	}).
	Action("sendReminder", func(c *rivet.Ctx[ReminderState]) error {
		return c.Broadcast("reminder", Reminder{Message: c.State().Message})
	})

// Relay bounces between the relays ["a"] and ["b"]: bounce(n) on one calls
// bounce(n-1) on the other, so relay["a"].bounce(4) goes a, b, a, b, a and
// returns 4. It completes only because each call is a wait point.
var Relay = rivet.New("relay", rivet.Options[struct{}]{}).
	Action("bounce", func(c *rivet.Ctx[struct{}], n int64) (int64, error) {
		if n <= 0 {
			return 0, nil
		}
		if n > 64 {
			return 0, rivet.NewUserError("too_deep", "bounce at most 64 times", nil)
		}
		other := []string{"a"}
		if k := c.Key(); len(k) == 1 && k[0] == "a" {
			other = []string{"b"}
		}
		r, err := client.Call[int64](c, c.Client().GetOrCreate("relay", other), "bounce", n-1)
		if err != nil {
			return 0, err
		}
		return r + 1, nil
	})

// Exchange is one question and answer of an agent.
type Exchange struct {
	Prompt string `cbor:"prompt"`
	Answer string `cbor:"answer"`
}

// AgentState is an agent's history.
type AgentState struct {
	History []Exchange `cbor:"history"`
}

// MaxAgentHistory bounds the exchanges an agent keeps.
const MaxAgentHistory = 100

// MaxAgentTokens bounds the words of one prompt.
const MaxAgentTokens = 1000

// reverseWords is the agent's stand-in for a model: the prompt's words in
// reverse order.
func reverseWords(prompt string) ([]string, error) {
	words := strings.Fields(prompt)
	if len(words) > MaxAgentTokens {
		return nil, rivet.NewUserError("prompt_too_long", fmt.Sprintf("at most %d words", MaxAgentTokens), nil)
	}
	for i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {
		words[i], words[j] = words[j], words[i]
	}
	return words, nil
}

func tokenDelay(ms int64) (time.Duration, error) {
	if ms < 0 || ms > 10_000 {
		return 0, rivet.NewUserError("invalid_delay", "ms per token must be between 0 and 10000", nil)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Agent answers prompts one token at a time, like a model would: each token
// waits outside the actor (getHistory answers meanwhile) and is broadcast
// as event "token"; GET /request/stream?prompt=...&ms=... streams the same
// tokens as server-sent events.
var Agent = rivet.New("agent", rivet.Options[AgentState]{
	CreateState: func(*rivet.Ctx[AgentState], rivet.Raw) (AgentState, error) {
		return AgentState{History: []Exchange{}}, nil
	},
	OnRequest: func(c *rivet.Ctx[AgentState], w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/stream" {
			http.NotFound(w, r)
			return
		}
		words, err := reverseWords(r.URL.Query().Get("prompt"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ms, _ := strconv.ParseInt(r.URL.Query().Get("ms"), 10, 64)
		d, err := tokenDelay(ms)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		for _, word := range words {
			if err := c.Wait(d); err != nil {
				return
			}
			fmt.Fprintf(w, "data: %s\n\n", word)
			flusher.Flush()
		}
	},
}).
	Action("ask", func(c *rivet.Ctx[AgentState], prompt string, msPerToken int64) (string, error) {
		words, err := reverseWords(prompt)
		if err != nil {
			return "", err
		}
		d, err := tokenDelay(msPerToken)
		if err != nil {
			return "", err
		}
		for _, word := range words {
			if err := c.Wait(d); err != nil {
				return "", err
			}
			if err := c.Broadcast("token", word); err != nil {
				return "", err
			}
		}
		answer := strings.Join(words, " ")
		h := append(c.State().History, Exchange{Prompt: prompt, Answer: answer})
		if len(h) > MaxAgentHistory {
			h = h[len(h)-MaxAgentHistory:]
		}
		c.State().History = h
		return answer, nil
	}).
	Action("getHistory", func(c *rivet.Ctx[AgentState]) ([]Exchange, error) { return c.State().History, nil })
