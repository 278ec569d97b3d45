package config

import "github.com/pathlens/pathlens/serve/remotewrite"

type rawRemoteWrite struct {
	URL             str `yaml:"url"`
	BearerTokenFile str `yaml:"bearer_token_file"`
}

// remoteWrite reads remote_write: the receivers every run's series are
// sent to (docs/serve.md#remote-write), each checked as the writer will
// use it.
func (d *decoder) remoteWrite(c *Config, items []*rawRemoteWrite) {
	for i, r := range items {
		p := index("remote_write", i)
		if r == nil || r.URL.N == nil {
			d.failf(d.at(p), join(p, "url"), "url is required")
		}
		var rc remotewrite.Config
		urlNode := r.URL.set(&rc.URL)
		tokNode := r.BearerTokenFile.set(&rc.BearerTokenFile)
		if tokNode != nil {
			rc.BearerTokenFile = d.abs(rc.BearerTokenFile)
		}
		if field, err := rc.Check(); err != nil {
			n := urlNode
			if field == "bearer_token_file" {
				n = tokNode
			}
			d.failf(n, join(p, field), "%v", err)
		}
		c.RemoteWrite = append(c.RemoteWrite, rc)
	}
}
