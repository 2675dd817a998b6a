package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

func Example() {
	ctx := context.Background()
	c, err := client.New(client.Config{Endpoint: "http://127.0.0.1:6420"})
	if err != nil {
		log.Fatal(err)
	}
	counter := c.GetOrCreate("counter", []string{"my-counter"})

	n, err := client.Call[int64](ctx, counter, "increment", 5)
	var ae *client.ActorError
	switch {
	case errors.As(err, &ae):
		log.Fatalf("actor error %s/%s: %s", ae.Group, ae.Code, ae.Message)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("count:", n)
}

func ExampleConn_On() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := c.GetOrCreate("chatRoom", []string{"lobby"}).Connect(ctx,
		client.WithOnError(func(err error) { log.Print("chat: ", err) }),
		client.WithOnClose(func(err error) { log.Print("chat: reconnecting after ", err) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	type message struct {
		Sender string `json:"sender"`
		Text   string `json:"text"`
	}
	unsubscribe := conn.On("newMessage", func(args client.RawArgs) {
		var m message
		if err := args.Decode(0, &m); err != nil {
			log.Print(err)
			return
		}
		fmt.Printf("%s: %s\n", m.Sender, m.Text)
	})
	defer unsubscribe()

	if err := conn.Action(ctx, "sendMessage", nil, "hello"); err != nil {
		log.Print(err)
	}
}
