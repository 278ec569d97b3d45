package web

import (
	"encoding/json"
	"image/png"
	"os"
	"regexp"
	"testing"

	"github.com/pathlens/pathlens/serve/web/webtest"
)

// hatchPixels counts the pixels of a screenshot in the colour of the
// hatching's lines (--fail at 0.8 over a failed tls segment, about
// rgb(144, 41, 48) in the light theme): a hatched bar has thousands, a
// page without one next to none (dark red text edges).
func hatchPixels(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	b := img.Bounds()
	near := func(v uint32, want int) bool { d := int(v>>8) - want; return d > -16 && d < 16 }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, 144) && near(g, 41) && near(bl, 48) {
				n++
			}
		}
	}
	return n
}

// TestBrowserTimedOut renders the lab's tls-stall target and one of its
// runs in headless Chromium: the failure is told in words and the hatch
// pattern really is drawn (the CSP lets a pattern referenced by a fill
// attribute through; the screenshot is counted for its lines).
func TestBrowserTimedOut(t *testing.T) {
	webtest.SkipWithoutChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := newStallFixture(t)
	label := regexp.MustCompile(`timed out after 2\.\d s in tls`)

	png := webtest.ArtifactPath(t, "web-target-tls-stall.png")
	text := webtest.VisibleText(webtest.Chromium(t, f.srv.URL+"/targets/tls-stall", png))
	for _, want := range []*regexp.Regexp{label, regexp.MustCompile(`Failed runs in the last 1h: 3 runs timed out after 2\.\d s in tls`),
		regexp.MustCompile(`tls · runs that timed out in it 3 (19|20|21|22)\d\d ms`), regexp.MustCompile(`total: the 0 successful runs only, of 3 in the window`),
		regexp.MustCompile(`2500 ms`)} {
		if !want.MatchString(text) {
			t.Errorf("rendered tls-stall page lacks %q:\n%s", want, text)
		}
	}
	if n := hatchPixels(t, png); n < 2000 {
		t.Errorf("the tls-stall page shows %d pixels of hatching, want thousands", n)
	}

	var res []APIResult
	if err := json.Unmarshal([]byte(newClient(t, f.srv).get("/api/v1/targets/tls-stall/results").body), &res); err != nil || len(res) == 0 {
		t.Fatalf("results: %v", err)
	}
	png = webtest.ArtifactPath(t, "web-run-tls-stall.png")
	text = webtest.VisibleText(webtest.Chromium(t, f.srv.URL+"/runs/"+itoa(res[0].ID), png))
	if !regexp.MustCompile(`tls \d+ ms ` + label.String()).MatchString(text) {
		t.Errorf("rendered run page lacks the tls row and its note:\n%s", text)
	}
	if n := hatchPixels(t, png); n < 1000 {
		t.Errorf("the run page shows %d pixels of hatching, want thousands", n)
	}
	// A page without a failure has none.
	png = webtest.ArtifactPath(t, "web-target-mixed-shared.png")
	webtest.Chromium(t, f.srv.URL+"/targets/mixed?scale=shared", png)
	ok := webtest.ArtifactPath(t, "web-findings-empty.png")
	webtest.Chromium(t, f.srv.URL+"/findings", ok)
	if n := hatchPixels(t, ok); n > 200 {
		t.Errorf("a page without hatching counts %d hatch pixels: the count is not telling", n)
	}
}
