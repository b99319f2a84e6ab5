package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// daemonFlags are the flags that find a running daemon: its address and
// admin token, by default from the config file.
type daemonFlags struct {
	addrFlag  string
	addr      *string
	tokenFile *string
}

// addDaemonFlags adds the daemon's address as the flag addrFlag, and
// --token-file.
func addDaemonFlags(fs interface {
	String(name, value, usage string) *string
}, addrFlag string) daemonFlags {
	return daemonFlags{
		addrFlag:  addrFlag,
		addr:      fs.String(addrFlag, "", "`URL` of the running daemon (default: http:// and intake.listen of the config, else "+config.DefaultListen+")"),
		tokenFile: fs.String("token-file", "", "`file` with the admin token (default: admin.token_file of the config)"),
	}
}

// client returns the daemon's base URL and admin token; cfg may be nil.
func (f daemonFlags) client(cfg *config.Config) (daemonClient, error) {
	c := daemonClient{base: *f.addr, flag: "--" + f.addrFlag}
	if c.base == "" {
		listen := config.DefaultListen
		if cfg != nil {
			listen = cfg.Intake.Listen
		}
		c.base = "http://" + listen
	}
	c.base = strings.TrimSuffix(c.base, "/")
	if !strings.Contains(c.base, "://") {
		return c, fmt.Errorf("%s %q has no scheme: use a URL such as http://%s", c.flag, c.base, c.base)
	}
	tokenFile := *f.tokenFile
	if tokenFile == "" && cfg != nil {
		tokenFile = cfg.Admin.TokenFile
	}
	if tokenFile != "" {
		token, err := readToken("admin token", tokenFile)
		if err != nil {
			return c, err
		}
		c.token = string(token)
	}
	return c, nil
}

// daemonClient reads a running daemon's status and keys.
type daemonClient struct {
	base  string
	flag  string // the flag that set base, for error messages
	token string
}

// get fetches path and decodes the JSON response into v.
func (c daemonClient) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("daemon address %q: %w: pass %s http://host:port", c.base, err, c.flag)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the daemon at %s: %w: is tokenwire run serving there? Pass %s with its address otherwise", c.base, err, c.flag)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read %s%s: %w", c.base, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s%s: 401 unauthorized: pass --token-file with the daemon's admin token", c.base, path)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s%s: %s: %s", c.base, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s%s: the response is not the expected JSON (%v): is it a tokenwire daemon? Check %s", c.base, path, err, c.flag)
	}
	return nil
}

// status fetches the daemon's status, checking that it is one: a
// tokenwire daemon's generation starts at 1.
func (c daemonClient) status(ctx context.Context) (twruntime.Status, error) {
	var st twruntime.Status
	if err := c.get(ctx, "/v1/status", &st); err != nil {
		return st, err
	}
	if st.Generation == 0 {
		return st, fmt.Errorf("%s/v1/status is not a tokenwire status (it has no generation): check %s", c.base, c.flag)
	}
	return st, nil
}

// cmdStatus prints a running daemon's generation, last reloads and
// listeners.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "[--config FILE] [--addr URL] [--token-file FILE] [--json]", stderr)
	configPath := fs.String("config", "", "config `file` (YAML) the daemon runs, for its address and admin token")
	daemon := addDaemonFlags(fs, "addr")
	asJSON := fs.Bool("json", false, "print the status document as JSON")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return parseStatus(err)
	}
	if len(positional) > 0 {
		fmt.Fprintf(stderr, "tokenwire status: unexpected argument %q\n", positional[0])
		return exitUsage
	}
	var cfg *config.Config
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			fmt.Fprintf(stderr, "tokenwire status: %v\n", err)
			return exitUsage
		}
	}
	client, err := daemon.client(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire status: %v\n", err)
		return exitUsage
	}
	st, err := client.status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire status: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return exitOK
	}
	printStatus(stdout, st)
	return exitOK
}

func printStatus(w io.Writer, st twruntime.Status) {
	from := ""
	if st.Config != "" {
		from = " from " + st.Config
	}
	fmt.Fprintf(w, "generation %d, live since %s%s\n", st.Generation, st.LoadedAt.Format(time.RFC3339), from)
	printReload(w, "last reload       ", st.LastReload)
	if st.LastFailedReload != nil && st.LastFailedReload != st.LastReload && (st.LastReload == nil || st.LastFailedReload.At != st.LastReload.At) {
		printReload(w, "last failed reload", st.LastFailedReload)
	}
	for _, l := range st.Listeners {
		fmt.Fprintf(w, "\nlistener %s\n", l.Name)
		fmt.Fprintf(w, "  module       %s\n", l.Module)
		fmt.Fprintf(w, "  sha256       %s\n", l.ModuleInfo.SHA256)
		fmt.Fprintf(w, "  abi          v%d\n", l.ModuleInfo.ABIVersion)
		fmt.Fprintf(w, "  instances    %d of %d\n", l.Instances, l.PoolSize)
		fmt.Fprintf(w, "  events       %d handled, %d failed, %d timed out, %d skipped in backoff\n", l.Handled, l.Failures, l.Timeouts, l.Skipped)
		if l.LastError != "" {
			fmt.Fprintf(w, "  last error   %s\n", l.LastError)
		}
	}
}

func printReload(w io.Writer, label string, r *twruntime.ReloadStatus) {
	if r == nil {
		fmt.Fprintf(w, "%s none\n", label)
		return
	}
	outcome := "ok"
	if !r.OK {
		outcome = "FAILED"
	}
	fmt.Fprintf(w, "%s %s at %s (%s), took %s\n", label, outcome, r.At.Format(time.RFC3339), r.Trigger, r.Took.Round(time.Microsecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	for _, c := range r.Changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
