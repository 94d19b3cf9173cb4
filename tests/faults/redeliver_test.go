package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redeliver captures the newest events of each topic from the broker (Dapr's
// Redis streams keep each CloudEvent whole) and publishes them again through
// the owning app's sidecar with the same CloudEvent id, as a broker that
// delivers twice would. owner "" takes the app from the event's source.
func redeliver(t *testing.T, topics map[string]string, perTopic int) int {
	t.Helper()
	info, err := readStack()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(info.RedisPort), 5*time.Second)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	n := 0
	for topic, owner := range topics {
		reply, err := redisDo(conn, rd, "XREVRANGE", topic, "+", "-", "COUNT", strconv.Itoa(perTopic))
		if err != nil {
			t.Fatalf("XREVRANGE %s: %v", topic, err)
		}
		entries, _ := reply.([]any)
		for _, e := range entries {
			pair, _ := e.([]any)
			if len(pair) != 2 {
				continue
			}
			fields, _ := pair[1].([]any)
			var data []byte
			for i := 0; i+1 < len(fields); i += 2 {
				if k, _ := fields[i].([]byte); string(k) == "data" {
					data, _ = fields[i+1].([]byte)
				}
			}
			var ce struct {
				ID     string `json:"id"`
				Source string `json:"source"`
			}
			if json.Unmarshal(data, &ce) != nil || ce.ID == "" {
				continue
			}
			app := owner
			if app == "" {
				app = ce.Source
			}
			component := "pubsub"
			if strings.HasSuffix(topic, ".outbox") { // an outbox notice, delivered twice
				component = "pubsub-outbox"
			}
			if publishRaw(t, app, component, topic, data) {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatalf("no event captured to deliver again")
	}
	return n
}

// publishRaw publishes a whole CloudEvent through app's sidecar.
func publishRaw(t *testing.T, app, component, topic string, ce []byte) bool {
	t.Helper()
	return publishAs(t, app, component, topic, "application/cloudevents+json", ce)
}

// publishAs publishes body with its content type through app's sidecar.
func publishAs(t *testing.T, app, component, topic, contentType string, body []byte) bool {
	t.Helper()
	a := appOf(t, app)
	req, _ := http.NewRequestWithContext(context.Background(), "POST",
		fmt.Sprintf("http://127.0.0.1:%d/v1.0/publish/%s/%s", a.DaprHTTPPort, component, topic), bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("dapr-api-token", a.DaprAPIToken)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Errorf("publish %s through %s: %v", topic, app, err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("publish %s through %s: %d", topic, app, resp.StatusCode)
		return false
	}
	return true
}

// redisDo sends one command in RESP and reads its reply.
func redisDo(conn net.Conn, rd *bufio.Reader, args ...string) (any, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(b.Bytes()); err != nil {
		return nil, err
	}
	return readReply(rd)
}

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("short reply %q", line)
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, fmt.Errorf("redis: %s", body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(rd, buf); err != nil {
			return nil, err
		}
		return buf[:n], nil
	case '*':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(rd); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply %q", line)
}

func ioReadFull(rd *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := rd.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// The RESP reader understands what Redis answers.
func TestReadReply(t *testing.T) {
	in := "*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$4\r\ndata\r\n$2\r\n{}\r\n:5\r\n"
	v, err := readReply(bufio.NewReader(bytes.NewBufferString(in)))
	if err != nil {
		t.Fatal(err)
	}
	top := v.([]any)
	entry := top[0].([]any)
	if string(entry[0].([]byte)) != "1-0" || top[1].(int64) != 5 {
		t.Fatalf("%#v", v)
	}
}

// orphanOutbox publishes n outbox notices whose transaction never
// committed, as an app does when its state transaction fails after the
// notice went out (the notice goes first): the relay waits for each one's
// marker, a bounded time, and drops it. Plays committed meanwhile must still
// reach their topic in time; Dapr's own outbox relay, which this replaced,
// spun forever on such notices and stopped the app's events.
func orphanOutbox(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(map[string]any{"eventId": randomUUID(), "topic": "track.played", "at": time.Now().UTC()})
		publishAs(t, "albums", "pubsub-outbox", "albums.outbox", "application/json", b)
	}
}

func randomUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
