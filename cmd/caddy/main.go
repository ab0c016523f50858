// Command caddy is Caddy with Caddy's standard modules and tokengate's.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/tokengate/tokengate/caddymodule"
	_ "github.com/tokengate/tokengate/demopsp"
)

func main() {
	caddycmd.Main()
}
