package testactors

import "github.com/rivetkube/rivetkube/rivet"

// RequestEcho returns what it learns of the client request behind each
// call (Ctx.Request): origin, client address and the X-Api-Key header; its
// OnBeforeConnect refuses X-Api-Key "deny" with user/forbidden.
var RequestEcho = rivet.New("requestEcho", rivet.Options[struct{}]{
	OnBeforeConnect: func(c *rivet.Ctx[struct{}], _ rivet.Raw) error {
		if r := c.Request(); r != nil && r.Header.Get("X-Api-Key") == "deny" {
			return rivet.NewUserError("forbidden", "X-Api-Key says deny", nil)
		}
		return nil
	},
}).Action("request", func(c *rivet.Ctx[struct{}]) (map[string]string, error) {
	r := c.Request()
	if r == nil {
		return nil, rivet.NewUserError("no_request", "the call has no client request", nil)
	}
	return map[string]string{"origin": r.Origin, "remote": r.RemoteAddr, "apiKey": r.Header.Get("X-Api-Key")}, nil
})
