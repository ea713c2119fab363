// Package signals measures sampled video frames and turns measurements and
// keywords into tags. Everything here is a pure function of its input: the same
// frames and text always give the same tags, in the same order.
package signals

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
)

// Frame is one sampled frame: Width*Height RGB pixels, 8 bits per channel.
type Frame struct {
	Width, Height int
	RGB           []byte
}

// Signals are the measurements of a clip.
type Signals struct {
	Frames                int
	Brightness            float64 // mean luma, 0..1
	Colourfulness         float64 // Hasler-Suesstrunk, 0-255 channels
	Motion                float64 // mean |luma change| between frames, 0..1
	SceneChangesPerMinute float64
}

// CutThreshold is the mean luma change above which two frames are a cut.
const CutThreshold = 0.25

// Measure computes the signals of frames sampled fps times per second.
func Measure(frames []Frame, fps float64) Signals {
	s := Signals{Frames: len(frames)}
	if len(frames) == 0 {
		return s
	}
	var prev []float64
	var motion float64
	cuts := 0
	for _, f := range frames {
		luma, colour := measureFrame(f)
		s.Brightness += mean(luma)
		s.Colourfulness += colour
		if prev != nil && len(prev) == len(luma) {
			d := 0.0
			for i := range luma {
				d += math.Abs(luma[i] - prev[i])
			}
			d /= float64(len(luma))
			motion += d
			if d > CutThreshold {
				cuts++
			}
		}
		prev = luma
	}
	n := float64(len(frames))
	s.Brightness /= n
	s.Colourfulness /= n
	if len(frames) > 1 {
		s.Motion = motion / (n - 1)
	}
	if minutes := n / fps / 60; minutes > 0 {
		s.SceneChangesPerMinute = float64(cuts) / minutes
	}
	return s
}

// measureFrame returns a frame's luma per pixel (0..1) and its colourfulness.
func measureFrame(f Frame) ([]float64, float64) {
	n := len(f.RGB) / 3
	luma := make([]float64, n)
	var sumRG, sumYB, sqRG, sqYB float64
	for i := range n {
		r, g, b := float64(f.RGB[3*i]), float64(f.RGB[3*i+1]), float64(f.RGB[3*i+2])
		luma[i] = (0.299*r + 0.587*g + 0.114*b) / 255
		rg, yb := r-g, 0.5*(r+g)-b
		sumRG += rg
		sumYB += yb
		sqRG += rg * rg
		sqYB += yb * yb
	}
	if n == 0 {
		return luma, 0
	}
	fn := float64(n)
	meanRG, meanYB := sumRG/fn, sumYB/fn
	stdRG := math.Sqrt(math.Max(sqRG/fn-meanRG*meanRG, 0))
	stdYB := math.Sqrt(math.Max(sqYB/fn-meanYB*meanYB, 0))
	return luma, math.Hypot(stdRG, stdYB) + 0.3*math.Hypot(meanRG, meanYB)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Tag is a tag with a score in (0, 1] and its evidence.
type Tag struct {
	Name     string
	Score    float64
	Evidence []string
}

// ContentTags turns signals into tags: bright or dark, colourful or muted,
// fast-cut, high-motion or static.
func ContentTags(s Signals) []Tag {
	if s.Frames == 0 {
		return nil
	}
	var tags []Tag
	add := func(name string, score float64, format string, args ...any) {
		tags = append(tags, Tag{Name: name, Score: round(math.Min(score, 1)), Evidence: []string{fmt.Sprintf(format, args...)}})
	}
	switch {
	case s.Brightness >= 0.6:
		add("bright", (s.Brightness-0.6)/0.4*0.5+0.5, "mean brightness %.2f over %d frames (>= 0.60)", s.Brightness, s.Frames)
	case s.Brightness <= 0.3:
		add("dark", (0.3-s.Brightness)/0.3*0.5+0.5, "mean brightness %.2f over %d frames (<= 0.30)", s.Brightness, s.Frames)
	}
	switch {
	case s.Colourfulness >= 60:
		add("colorful", (s.Colourfulness-60)/60*0.5+0.5, "colourfulness %.1f (>= 60)", s.Colourfulness)
	case s.Colourfulness <= 15:
		add("muted", (15-s.Colourfulness)/15*0.5+0.5, "colourfulness %.1f (<= 15)", s.Colourfulness)
	}
	switch {
	case s.SceneChangesPerMinute >= 20:
		add("fast-cut", s.SceneChangesPerMinute/40*0.5+0.5, "%.1f scene changes per minute (>= 20)", s.SceneChangesPerMinute)
	case s.Motion >= 0.08:
		add("high-motion", s.Motion/0.16*0.5+0.5, "mean frame-to-frame change %.3f (>= 0.080)", s.Motion)
	case s.Frames > 1 && s.Motion <= 0.01:
		add("static", (0.01-s.Motion)/0.01*0.5+0.5, "mean frame-to-frame change %.4f (<= 0.0100)", s.Motion)
	}
	return tags
}

// keywords maps words (lower case) to the tag they suggest.
var keywords = map[string]string{
	"cat": "pets", "cats": "pets", "dog": "pets", "dogs": "pets", "puppy": "pets", "kitten": "pets",
	"football": "sports", "soccer": "sports", "goal": "sports", "basketball": "sports", "match": "sports",
	"recipe": "food", "cooking": "food", "cook": "food", "dinner": "food", "baking": "food",
	"song": "music", "music": "music", "concert": "music", "guitar": "music", "cover": "music",
	"travel": "travel", "trip": "travel", "beach": "travel", "mountain": "travel", "city": "travel",
	"game": "gaming", "gaming": "gaming", "speedrun": "gaming", "minecraft": "gaming",
	"tutorial": "education", "howto": "education", "lesson": "education", "explained": "education",
	"猫": "pets", "狗": "pets", "美食": "food", "音乐": "music", "旅行": "travel", "游戏": "gaming",
}

// Words splits text into lower-case words: runs of letters and digits; a run of
// Han characters counts character by character and as a whole, so that
// keywords of one or two characters match in Chinese text without spaces.
func Words(text string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	var han []rune
	flushHan := func() {
		for i := range han {
			words = append(words, string(han[i]))
			if i+1 < len(han) {
				words = append(words, string(han[i:i+2]))
			}
		}
		han = han[:0]
	}
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.Is(unicode.Han, r):
			flush()
			han = append(han, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushHan()
			cur = append(cur, r)
		default:
			flush()
			flushHan()
		}
	}
	flush()
	flushHan()
	return words
}

// KeywordTags tags from title and description: each tag's score grows with the
// number of its keywords, a title hit counting double.
func KeywordTags(title, description string) []Tag {
	hits := map[string]map[string]int{} // tag -> keyword -> weight
	for weight, text := range []string{description, title} {
		for _, w := range Words(text) {
			if tag, ok := keywords[w]; ok {
				if hits[tag] == nil {
					hits[tag] = map[string]int{}
				}
				hits[tag][w] += weight + 1
			}
		}
	}
	var tags []Tag
	for tag, words := range hits {
		total := 0
		var evidence []string
		for w, n := range words {
			total += n
			evidence = append(evidence, fmt.Sprintf("keyword %q (weight %d)", w, n))
		}
		sort.Strings(evidence)
		tags = append(tags, Tag{Name: tag, Score: round(1 - math.Pow(0.5, float64(total))), Evidence: evidence})
	}
	return tags
}

// Merge combines tag lists: a tag named twice keeps the higher score and all the
// evidence. The result is sorted by score, then name.
func Merge(lists ...[]Tag) []Tag {
	byName := map[string]*Tag{}
	for _, l := range lists {
		for _, t := range l {
			if have, ok := byName[t.Name]; ok {
				have.Score = math.Max(have.Score, t.Score)
				have.Evidence = append(have.Evidence, t.Evidence...)
				continue
			}
			c := t
			c.Evidence = append([]string(nil), t.Evidence...)
			byName[t.Name] = &c
		}
	}
	out := make([]Tag, 0, len(byName))
	for _, t := range byName {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }
