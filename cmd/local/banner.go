package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dmp-diy/diy/hmac"
)

// printBanner prints one line per service and ready-to-paste signed curl
// commands. The development secret and key are printed because they are
// this machine's defaults; secrets set by the user are not.
func printBanner(out io.Writer, p *pipeline) {
	diyURL := "http://127.0.0.1:" + p.s.port + "/"
	panURL := os.Getenv("PANGOLIN_URL")
	w := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	w("diy       %s  (the endpoint to give the DMP)", diyURL)
	if p.pangolin != nil {
		w("pangolin  %s  (open it in a browser for an overview; state in %s)", panURL,
			p.s.dataDir)
	} else {
		w("pangolin  %s  (PANGOLIN_URL)", panURL)
	}
	if p.fake != nil {
		w("pubsub    in-memory fake at %s: topic %s, ordered subscription %s, dead letters to %s",
			p.fake.Addr, p.topo.Topic, p.topo.Subscription, p.topo.DeadLetterTopic)
	} else {
		w("pubsub    emulator at %s (PUBSUB_EMULATOR_HOST)", os.Getenv("PUBSUB_EMULATOR_HOST"))
	}
	if p.cfg.Store == "firestore" {
		w("store     Firestore emulator at %s", os.Getenv("FIRESTORE_EMULATOR_HOST"))
	} else {
		w("store     embedded, %s/mappings.db", p.cfg.DataDir)
	}
	w("forward   %s/forward  (fed by the subscription, as Pub/Sub push would)", p.fwURL)

	secret := os.Getenv("DIY_HMAC_SECRET")
	switch {
	case secret == "":
		w("secrets   DIY_HMAC_SECRET is empty: every POST is refused")
	case secret == devHMACSecret:
		w("secrets   HMAC secret %q, Pangolin key %s (development values)", secret, keyNote())
	default:
		w("secrets   HMAC secret from DIY_HMAC_SECRET, Pangolin key %s", keyNote())
	}
	if secret == devHMACSecret {
		w("")
		w("Try it (create an audience, then add a user to it):")
		create := `{"Type":"CREATE_AUDIENCE","Name":"Test audience","Customer":123,` +
			`"Audience":"a5940e473cea659.356693871497425011"}`
		add := `{"Type":"ADD_TO_AUDIENCE","Mutations":[{"Uuid":"ab043529-3e55-4672-52f0-` +
			`18887ea12345","Audience":"a5940e473cea659.356693871497425011","Customer":123,` +
			`"Platform":113,"External_user_id":"12478286329"}]}`
		w("%s", curlLine(diyURL, "CREATE_AUDIENCE", create, secret))
		w("%s", curlLine(diyURL, "ADD_TO_AUDIENCE", add, secret))
	}
	w("")
	w("Stop with Ctrl-C: queued mutations are forwarded before it exits.")
}

func keyNote() string {
	if os.Getenv("PANGOLIN_API_KEY") == devPangolinKey {
		return fmt.Sprintf("%q", devPangolinKey)
	}
	return "from PANGOLIN_API_KEY"
}

func curlLine(url, typ, body, secret string) string {
	sig := hmac.Sign([]byte(secret), []byte(body))
	return fmt.Sprintf("curl -sS -X POST '%s?type=%s' -H 'Content-Type: application/json' "+
		"-H 'X-HMAC: %s' --data '%s'", url, typ, sig, strings.ReplaceAll(body, "'", `'\''`))
}
