package admin

import (
	"strings"
	"testing"
)

// TestCheckEmailRefusesInvisibleCharacters checks that an email with a
// format character (Unicode Cf), which would pose as another address, is
// refused, while a display name keeps the joiners emoji need.
func TestCheckEmailRefusesInvisibleCharacters(t *testing.T) {
	for _, email := range []string{"zw\u200b@x.io", "zw\u200d@x.io", "\ufeffzw@x.io", "zw@x\u2060.io", "zw\u00ad@x.io"} {
		if err := CheckEmail(email); err == nil || !strings.Contains(err.Error(), "invisible format character") {
			t.Errorf("CheckEmail(%q) = %v, want refused as invisible", email, err)
		}
	}
	if err := CheckEmail("zw@x.io"); err != nil {
		t.Errorf("CheckEmail(zw@x.io) = %v", err)
	}
	if err := CheckName("Ada \U0001F469\u200d\U0001F4BB"); err != nil {
		t.Errorf("a display name with an emoji's zero-width joiner: %v", err)
	}
}
