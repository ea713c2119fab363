package signals

import (
	"reflect"
	"strings"
	"testing"
)

// solid is a frame of one colour.
func solid(r, g, b byte) Frame {
	f := Frame{Width: 4, Height: 4, RGB: make([]byte, 48)}
	for i := 0; i < 48; i += 3 {
		f.RGB[i], f.RGB[i+1], f.RGB[i+2] = r, g, b
	}
	return f
}

func names(tags []Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, t.Name)
	}
	return out
}

func TestMeasure(t *testing.T) {
	white, black := solid(255, 255, 255), solid(0, 0, 0)
	s := Measure([]Frame{white, white, white, white}, 2)
	if s.Brightness < 0.99 || s.Motion != 0 || s.SceneChangesPerMinute != 0 || s.Colourfulness > 0.001 {
		t.Errorf("white frames: %+v", s)
	}
	if got := names(ContentTags(s)); !reflect.DeepEqual(got, []string{"bright", "muted", "static"}) {
		t.Errorf("white tags %v", got)
	}
	// Alternating black and white, 5 frames at 2 fps (2.5 s): 4 cuts, 96 a minute.
	flicker := Measure([]Frame{black, white, black, white, black}, 2)
	if flicker.SceneChangesPerMinute != 96 || flicker.Motion < 0.99 {
		t.Errorf("flicker: %+v", flicker)
	}
	if got := names(ContentTags(flicker)); !strings.Contains(strings.Join(got, ","), "fast-cut") {
		t.Errorf("flicker tags %v", got)
	}
	// Pure, saturated colours are colourful.
	colour := Measure([]Frame{{Width: 2, Height: 1, RGB: []byte{255, 0, 0, 0, 0, 255}}}, 2)
	if colour.Colourfulness < 60 {
		t.Errorf("red and blue: colourfulness %.1f", colour.Colourfulness)
	}
	if Measure(nil, 2).Frames != 0 || ContentTags(Signals{}) != nil {
		t.Error("no frames, yet signals")
	}
}

func TestKeywordTags(t *testing.T) {
	tags := KeywordTags("My cat meets a dog", "cooking dinner with my cat")
	got := map[string]Tag{}
	for _, tag := range tags {
		got[tag.Name] = tag
	}
	if got["pets"].Score <= got["food"].Score {
		t.Errorf("pets (3 title-weighted hits) should outscore food: %+v", tags)
	}
	if ev := strings.Join(got["pets"].Evidence, ";"); !strings.Contains(ev, `keyword "cat" (weight 3)`) {
		t.Errorf("pets evidence %q", ev)
	}
	zh := KeywordTags("我的猫", "一起去旅行")
	if n := names(Merge(zh)); !reflect.DeepEqual(n, []string{"pets", "travel"}) {
		t.Errorf("Chinese keywords: %v", n)
	}
}

func TestMergeIsDeterministic(t *testing.T) {
	a := []Tag{{Name: "music", Score: 0.5, Evidence: []string{"x"}}, {Name: "bright", Score: 0.7}}
	b := []Tag{{Name: "music", Score: 0.75, Evidence: []string{"y"}}}
	first := Merge(a, b)
	for range 20 {
		if !reflect.DeepEqual(Merge(a, b), first) {
			t.Fatal("Merge changed its answer")
		}
	}
	if first[0].Name != "music" || first[0].Score != 0.75 || len(first[0].Evidence) != 2 {
		t.Errorf("merged %+v", first)
	}
}

// FuzzWords: any text splits into lower-case words without separators, and
// keyword tagging never panics.
func FuzzWords(f *testing.F) {
	f.Add("My Cat!! 猫咪和狗")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, text string) {
		for _, w := range Words(text) {
			if w == "" || strings.ContainsAny(w, " \t\n.,!") || strings.ToLower(w) != w {
				t.Fatalf("word %q from %q", w, text)
			}
		}
		for _, tag := range KeywordTags(text, text) {
			if tag.Score <= 0 || tag.Score > 1 {
				t.Fatalf("score %v", tag.Score)
			}
		}
	})
}
