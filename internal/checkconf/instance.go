package checkconf

import (
	"errors"
	"reflect"

	"github.com/coredns/caddy"
)

// newInstance returns a caddy instance of the dns server type that nothing
// starts and caddy does not list, and a controller of it, whose Context is the
// instance's. Caddy makes such instances only inside Start and Restart, which
// then listen, and inside its justValidate path, which drops the instance
// before MakeServers: none returns one. NewTestController makes one and keeps
// it in the controller's unexported field, read here. A caddy that renames the
// field fails TestCheck and every check, never silently.
func newInstance() (*caddy.Instance, *caddy.Controller, error) {
	c := caddy.NewTestController(serverType, "")
	field := reflect.ValueOf(c).Elem().FieldByName("instance")
	if !field.IsValid() || field.Type() != reflect.TypeFor[*caddy.Instance]() || field.IsNil() {
		return nil, nil, errors.New("checkconf: caddy's Controller keeps no *caddy.Instance in a field 'instance'")
	}
	return (*caddy.Instance)(field.UnsafePointer()), c, nil
}
