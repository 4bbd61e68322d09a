#!/usr/bin/python3
"""Writes a deterministic tokenizer test corpus: one text per line (bytes; no '\\n' inside a line)
and, beside it, each line's category. Categories: English dialogue, punctuation, numbers, white
space runs (tabs, '\\r', Unicode spaces), other scripts (CJK, Arabic, Cyrillic, Devanagari, Thai,
...), emoji (ZWJ sequences, flags, skin tones), combining marks (decomposed text), special-token
strings inside text, invalid UTF-8, long words, and mixtures of all of them.

usage: tokenizer_corpus.py OUT_CORPUS OUT_CATEGORIES [LINES] [SEED]
"""
import random
import sys

NAMES = ["Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon"]
FEELINGS = ["sad", "anxious", "proud", "furious", "lonely", "grateful", "ashamed", "excited",
            "nervous", "heartbroken", "relieved", "jealous", "hopeful", "disappointed"]
OPENERS = ["I'm", "I am", "I've been", "I'd be", "You're", "We're", "They'll be", "She's",
           "He'd been", "It's", "I can't stop feeling", "Don't you think I'm", "WE'RE", "YOU'LL be",
           "i'M", "Honestly, I'm", "Well... I'm", "Ugh -- I'm"]
REASONS = ["my dog died last week", "I got the job!", "nobody called me on my birthday",
           "the exam is tomorrow", "my sister's wedding is in 3 days", "I lost $1,250 at work",
           "we moved to a new city", "my best friend forgot about me", "the doctor said it's fine",
           "I finally finished my thesis", "it rained all day (again)", "I burned the dinner"]
REPLIES = ["That sounds really hard.", "Oh no, I'm so sorry to hear that!", "Wow, congrats!!",
           "How are you holding up?", "Do you want to talk about it?", "That's wonderful :)",
           "I'd feel the same way.", "What happened next?", "You've got this.", "Hmm... why?"]
PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "--", "—", "–", "…", "“", "”",
    "‘", "’", "«", "»", "¿", "¡", "§", "¶", "•", "©", "®", "™", "°", "±", "×", "÷", "€", "£", "¥",
    "''", "'s", "'S", "'ll", "'LL", "'d", "'ve", "'re", "'m", "'t", "ſ"]
SCRIPTS = {
    "chinese": "我今天很难过因为我的朋友忘记了我的生日你好世界谢谢你的帮助我们一起去吃饭吧",
    "japanese": "今日はとても悲しいですありがとうございますカタカナひらがなテストです",
    "korean": "안녕하세요오늘정말슬퍼요감사합니다친구가생일을잊어버렸어요",
    "arabic": "مرحبا كيف حالك اليوم أنا حزين جدا لأن صديقي نسي عيد ميلادي شكرا لك",
    "hebrew": "שלום מה שלומך היום אני עצוב מאוד תודה רבה",
    "cyrillic": "Привет как дела сегодня мне очень грустно спасибо большое ЁЖИК ёжик",
    "devanagari": "नमस्ते आप कैसे हैं आज मैं बहुत दुखी हूँ धन्यवाद क्षत्रिय",
    "thai": "สวัสดีครับวันนี้ฉันเศร้ามากขอบคุณมากครับ",
    "greek": "Γειά σου κόσμε σήμερα είμαι πολύ λυπημένος ευχαριστώ",
}
EMOJI = ["😀", "😢", "😭", "❤️", "👍", "👍🏽", "👩‍👩‍👧‍👦", "👨‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "🤦🏼‍♀️",
         "🙏", "✨", "🥲", "🫶", "💔", "☺", "⚠️", "🧑🏿‍🤝‍🧑🏻"]
COMBINING = [chr(c) for c in range(0x300, 0x370)] + ["\u20DD", "\u0E49", "\u093F", "\u05B4"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", " \t ", "\r", "\r\t", "\x0b", "\x0c", "\u00a0", "\u3000",
          "\u2003", "\u2009", "\u200b", "\u0085", "\u2028", "\ufeff", "\u1680", "\u202f"]
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
            "<|end_header_id|>", "<|reserved_special_token_7|>", "<s>", "</s>", "<unk>",
            "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>",
            "<tool_call>", "<0x41>", "<0xE2>", "<|begin_of", "<<s>>", "<s></s>", "< s >", "<|",
            "|>", "<|im_start|>user", "<|im_end|>\r"]
INVALID = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xff",
           b"\xfe\xff", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3\x28", b"\xe0\x80\x80",
           b"\xf8\x88\x80\x80\x80", b"\x80\x80\x80"]


def dialogue(r):
    line = f"{r.choice(OPENERS)} {r.choice(FEELINGS)} because {r.choice(REASONS)}."
    if r.random() < 0.5:
        line = f"{r.choice(NAMES)}: {line} {r.choice(NAMES)}: {r.choice(REPLIES)}"
    if r.random() < 0.2:
        line = f'"{line}" she said, \'quietly\'.'
    return line


def punctuation(r):
    return "".join(r.choice(PUNCTUATION) + (r.choice(["", " ", "  "]) if r.random() < 0.4 else "")
                   for _ in range(r.randint(1, 40)))


def numbers(r):
    forms = [lambda: str(r.randint(0, 10**r.randint(1, 18))),
             lambda: f"{r.uniform(-1e4, 1e4):.{r.randint(0, 6)}f}",
             lambda: f"{r.randint(1, 999)},{r.randint(0, 999):03d},{r.randint(0, 999):03d}",
             lambda: f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(1900, 2100)}",
             lambda: f"+1 ({r.randint(200, 999)}) {r.randint(100, 999)}-{r.randint(1000, 9999)}",
             lambda: "".join(chr(0xFF10 + r.randint(0, 9)) for _ in range(r.randint(1, 6))),
             lambda: "".join(chr(0x0660 + r.randint(0, 9)) for _ in range(r.randint(1, 6))),
             lambda: f"{r.randint(0, 100)}% of {r.randint(2, 9)}x{r.randint(2, 9)}",
             lambda: "1" * r.randint(1, 40)]
    return " ".join(r.choice(forms)() for _ in range(r.randint(1, 8)))


def whitespace(r):
    words = [r.choice(["hello", "I'm", "sad", "ok", "?", "42", "fine", "Hello"]) for _ in range(6)]
    return "".join(r.choice(SPACES) * r.randint(1, 3) + w for w in words) + \
        (r.choice(SPACES) * r.randint(0, 4))


def scripts(r):
    name, text = r.choice(list(SCRIPTS.items()))
    start = r.randint(0, len(text) - 1)
    piece = text[start:start + r.randint(1, 40)]
    return piece if r.random() < 0.6 else f"{dialogue(r)} {piece} {r.choice(REPLIES)}"


def emoji(r):
    return "".join(r.choice(EMOJI) + r.choice(["", "", " ", "!", "a"]) for _ in range(r.randint(1, 12)))


def combining(r):
    out = []
    for _ in range(r.randint(3, 30)):
        out.append(r.choice("aeiouAEIOUnNcCsyz ") + "".join(r.choice(COMBINING)
                                                          for _ in range(r.randint(0, 3))))
    if r.random() < 0.3:  # decomposed Hangul: NFC recomposes it
        out.append("\u1100\u1161\u11a8\u1112\u1161\u11ab")
    return "".join(out)


def specials(r):
    parts = []
    for _ in range(r.randint(1, 6)):
        parts.append(r.choice(SPECIALS))
        parts.append(r.choice(["", " ", "hi", " there", "\t", dialogue(r)]))
    return "".join(parts)


def long_words(r):
    unit = r.choice(["a", "ab", "la", "😀", "ñ", "的", "x1", " ", "-", "ٍ", "\u200d"])
    return unit * r.randint(50, 1500)


def mixed(r):
    return " ".join(r.choice(GENERATORS[:-2])(r) for _ in range(r.randint(2, 5)))


GENERATORS = [dialogue, punctuation, numbers, whitespace, scripts, emoji, combining, specials,
              long_words, mixed, None, None]  # the last two: invalid UTF-8 (bytes), below
WEIGHTS = [30, 6, 8, 8, 12, 6, 6, 8, 1, 7, 4, 4]


def invalid(r):
    text = (dialogue(r) if r.random() < 0.5 else mixed(r)).encode()
    for _ in range(r.randint(1, 4)):
        cut = r.randint(0, len(text))
        text = text[:cut] + r.choice(INVALID) + text[cut:]
    return text


def main():
    corpus_path, categories_path = sys.argv[1], sys.argv[2]
    lines = int(sys.argv[3]) if len(sys.argv) > 3 else 12000
    r = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 2024)
    with open(corpus_path, "wb") as corpus, open(categories_path, "w") as categories:
        for _ in range(lines):
            generator = r.choices(range(len(GENERATORS)), WEIGHTS)[0]
            if GENERATORS[generator] is None:
                name, data = "invalid_utf8", invalid(r)
            else:
                name = GENERATORS[generator].__name__
                data = GENERATORS[generator](r).encode()
            assert b"\n" not in data
            corpus.write(data + b"\n")
            categories.write(name + "\n")


if __name__ == "__main__":
    main()
