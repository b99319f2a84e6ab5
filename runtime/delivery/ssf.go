package delivery

import (
	"net/http"
	"slices"
	"strings"
)

// Delivery method URIs of the Shared Signals Framework.
const (
	MethodPush = "urn:ietf:rfc:8935"
	MethodPoll = "urn:ietf:rfc:8936"
)

// ssfConfiguration is the transmitter metadata served at
// /.well-known/ssf-configuration.
type ssfConfiguration struct {
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
	PollEndpoints            []string `json:"tokenwire_poll_endpoints,omitempty"`
}

// SSFConfiguration returns the handler of the transmitter metadata for
// issuer. The JWK set and poll endpoints are named under issuer, or under
// the request's own host when issuer is empty. The delivery methods listed
// are those of the configured sinks: push for a set-push sink, poll for a
// set-poll sink.
func (d *Delivery) SSFConfiguration(issuer string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		base := strings.TrimSuffix(issuer, "/")
		if base == "" {
			scheme := "http"
			if req.TLS != nil {
				scheme = "https"
			}
			base = scheme + "://" + req.Host
		}
		c := ssfConfiguration{
			Issuer:                   issuer,
			JWKSURI:                  base + "/.well-known/jwks.json",
			DeliveryMethodsSupported: []string{},
		}
		if d.push {
			c.DeliveryMethodsSupported = append(c.DeliveryMethodsSupported, MethodPush)
		}
		if len(d.polls) > 0 {
			c.DeliveryMethodsSupported = append(c.DeliveryMethodsSupported, MethodPoll)
		}
		if c.Issuer == "" {
			c.Issuer = base
		}
		for name := range d.polls {
			c.PollEndpoints = append(c.PollEndpoints, base+PollPath(name))
		}
		slices.Sort(c.PollEndpoints)
		writeJSON(w, http.StatusOK, c)
	})
}

// PollPath is the path receivers poll the set-poll sink name at.
func PollPath(name string) string { return "/v1/sets/poll/" + name }
