//! Procedural faces for the CelebA format: draws the 40 attributes with CelebA-like positive
//! rates and correlations, then renders each as a visible cue (easy ones large and colourful,
//! subtle ones a few pixels of shape) on a 178×218 design frame.

use super::super::celeba::ATTRIBUTES;
use crate::rng::Rng;
use super::raster::{Canvas, Color};
use super::Rates;

// Attribute indices in the official order.
const SHADOW: usize = 0;
const ARCHED: usize = 1;
const ATTRACTIVE: usize = 2;
const BAGS: usize = 3;
const BALD: usize = 4;
const BANGS: usize = 5;
const BIG_LIPS: usize = 6;
const BIG_NOSE: usize = 7;
const BLACK: usize = 8;
const BLOND: usize = 9;
const BLURRY: usize = 10;
const BROWN: usize = 11;
const BUSHY: usize = 12;
const CHUBBY: usize = 13;
const DOUBLE_CHIN: usize = 14;
const GLASSES: usize = 15;
const GOATEE: usize = 16;
const GRAY: usize = 17;
const MAKEUP: usize = 18;
const CHEEKBONES: usize = 19;
const MALE: usize = 20;
const MOUTH_OPEN: usize = 21;
const MUSTACHE: usize = 22;
const NARROW_EYES: usize = 23;
const NO_BEARD: usize = 24;
const OVAL: usize = 25;
const PALE: usize = 26;
const POINTY_NOSE: usize = 27;
const RECEDING: usize = 28;
const ROSY: usize = 29;
const SIDEBURNS: usize = 30;
const SMILING: usize = 31;
const STRAIGHT: usize = 32;
const WAVY: usize = 33;
const EARRINGS: usize = 34;
const HAT: usize = 35;
const LIPSTICK: usize = 36;
const NECKLACE: usize = 37;
const NECKTIE: usize = 38;
const YOUNG: usize = 39;

/// The design frame (the real aligned CelebA crop).
pub const DESIGN_W: f32 = 178.0;
pub const DESIGN_H: f32 = 218.0;

/// How much noisier than `label_noise` each attribute's labels are: subjective attributes
/// (Attractive, Oval_Face, Pointy_Nose…) are annotated less consistently in CelebA.
pub const NOISE_SCALE: [f32; 40] = [
    1.0, 1.5, 3.0, 1.5, 0.3, 0.7, 2.0, 2.0, 1.0, 0.7, 1.0, 1.5, 1.5, 1.5, 1.5, 0.3, 0.7, 0.7, 1.0, 2.0, 0.2, 1.0, 0.7,
    2.0, 0.7, 3.0, 1.0, 2.5, 1.5, 1.5, 1.0, 0.7, 1.5, 1.5, 1.0, 0.3, 0.5, 1.0, 0.5, 1.0,
];

/// The attributes whose rate `rates:` may set: each is one draw of its own (the others are derived
/// from several, e.g. No_Beard, Attractive, the hair colours).
pub const RATE_ATTRIBUTES: [usize; 19] = [
    CHUBBY, SMILING, CHEEKBONES, MOUTH_OPEN, BIG_LIPS, BIG_NOSE, NARROW_EYES, BAGS, ARCHED, BUSHY, PALE, ROSY, GLASSES, HAT,
    MAKEUP, EARRINGS, NECKLACE, NECKTIE, BLURRY,
];

/// Short labels for the contact sheet.
pub const ABBREV: [&str; 40] = [
    "5OC", "ARC", "ATT", "BAG", "BLD", "BNG", "BLP", "BNS", "BLK", "BLN", "BLR", "BRN", "BSH", "CHB", "DCH", "GLS", "GOT",
    "GRY", "MKP", "HCB", "MAL", "OPN", "MUS", "NRW", "NOB", "OVL", "PAL", "PNS", "REC", "RSY", "SDB", "SMI", "STR", "WAV",
    "EAR", "HAT", "LIP", "NKL", "TIE", "YNG",
];

/// One face: the drawn attributes and the latent choices that shape its picture.
#[derive(Debug, Clone)]
pub struct Face {
    pub attrs: [bool; 40],
    skin: Color,
    hair: Color,
    long_hair: bool,
    full_beard: bool,
    sunglasses: bool,
    hat_color: Color,
    clothes: Color,
    tie_color: Color,
    lip_color: Color,
    shadow_color: Color,
}

fn pick(rng: &mut Rng, palette: &[Color]) -> Color {
    let c = palette[rng.below(palette.len())];
    let j = rng.range(0.9, 1.1);
    [c[0] * j, c[1] * j, c[2] * j]
}

fn vivid(rng: &mut Rng) -> Color {
    pick(rng, &[[200.0, 40.0, 40.0], [40.0, 80.0, 190.0], [40.0, 150.0, 60.0], [230.0, 200.0, 40.0], [150.0, 60.0, 170.0], [240.0, 120.0, 30.0], [30.0, 30.0, 35.0], [235.0, 235.0, 235.0]])
}

/// Draws the attributes of one face (no label noise). With `base` (the identity's first draw), the
/// face keeps the identity's gender, age, skin and hair colour; expression, accessories, makeup
/// and the rest vary from image to image. `rates` replaces the priors of some [`RATE_ATTRIBUTES`].
pub fn sample_face(rng: &mut Rng, base: Option<&Face>, rates: &Rates) -> Face {
    let p = |index: usize, prior: f32| rates.of(index, prior);
    let mut a = [false; 40];
    let male = match base {
        Some(b) => b.attrs[MALE],
        None => rng.chance(0.417),
    };
    a[MALE] = male;
    a[YOUNG] = match base {
        Some(b) => b.attrs[YOUNG],
        None => rng.chance(if male { 0.70 } else { 0.83 }),
    };
    let old = !a[YOUNG];
    a[BALD] = male && rng.chance(if old { 0.16 } else { 0.015 });
    a[RECEDING] = !a[BALD] && rng.chance(if male { if old { 0.30 } else { 0.08 } } else { 0.03 });
    let mut hair: Color = [90.0, 60.0, 40.0];
    if !a[BALD] {
        if rng.chance(if old { 0.17 } else { 0.01 }) {
            a[GRAY] = true;
            hair = pick(rng, &[[175.0, 175.0, 178.0], [200.0, 200.0, 205.0], [150.0, 150.0, 155.0]]);
        } else {
            let w = [if male { 0.04 } else { 0.24 }, 0.25, 0.22, 0.29];
            match rng.weighted(&w) {
                0 => {
                    a[BLOND] = true;
                    hair = pick(rng, &[[235.0, 205.0, 120.0], [220.0, 185.0, 95.0], [245.0, 225.0, 150.0]]);
                }
                1 => {
                    a[BLACK] = true;
                    hair = pick(rng, &[[22.0, 20.0, 22.0], [35.0, 30.0, 30.0]]);
                }
                2 => {
                    a[BROWN] = true;
                    hair = pick(rng, &[[120.0, 75.0, 40.0], [140.0, 90.0, 50.0], [105.0, 65.0, 35.0]]);
                }
                // dark brown / auburn: CelebA leaves many such heads without a colour label
                _ => hair = pick(rng, &[[70.0, 45.0, 30.0], [150.0, 60.0, 35.0], [60.0, 40.0, 35.0]]),
            }
        }
        match rng.weighted(&[if male { 0.14 } else { 0.45 }, 0.22, if male { 0.64 } else { 0.33 }]) {
            0 => a[WAVY] = true,
            1 => a[STRAIGHT] = true,
            _ => {}
        }
        a[BANGS] = rng.chance(if male { 0.09 } else { 0.2 });
    }
    let long_hair = !a[BALD] && rng.chance(if male { 0.08 } else { 0.85 });
    a[CHUBBY] = rng.chance(p(CHUBBY, if old { 0.12 } else { 0.04 }));
    a[DOUBLE_CHIN] = rng.chance(if a[CHUBBY] { 0.45 } else if old { 0.08 } else { 0.015 });
    a[OVAL] = !a[CHUBBY] && rng.chance(0.30);
    a[SMILING] = rng.chance(p(SMILING, 0.48));
    a[CHEEKBONES] = rng.chance(p(CHEEKBONES, if a[SMILING] { 0.75 } else { 0.15 }));
    a[MOUTH_OPEN] = rng.chance(p(MOUTH_OPEN, if a[SMILING] { 0.7 } else { 0.27 }));
    a[BIG_LIPS] = rng.chance(p(BIG_LIPS, if male { 0.19 } else { 0.28 }));
    a[BIG_NOSE] = rng.chance(p(BIG_NOSE, if male { 0.38 } else { 0.13 }));
    a[POINTY_NOSE] = !a[BIG_NOSE] && rng.chance(0.36);
    a[NARROW_EYES] = rng.chance(p(NARROW_EYES, if a[SMILING] { 0.16 } else { 0.07 }));
    a[BAGS] = rng.chance(p(BAGS, if old { 0.45 } else { 0.13 }));
    a[ARCHED] = rng.chance(p(ARCHED, if male { 0.05 } else { 0.42 }));
    a[BUSHY] = rng.chance(p(BUSHY, if male { 0.26 } else { 0.05 }));
    a[PALE] = rng.chance(p(PALE, 0.043));
    a[ROSY] = rng.chance(p(ROSY, if male { 0.01 } else { 0.10 }));
    a[GLASSES] = rng.chance(p(GLASSES, if old { 0.14 } else { 0.04 }));
    a[HAT] = rng.chance(p(HAT, 0.048));
    let mut full_beard = false;
    if male && rng.chance(0.40) {
        a[SHADOW] = rng.chance(0.62);
        a[GOATEE] = rng.chance(0.38);
        a[MUSTACHE] = rng.chance(0.25);
        full_beard = rng.chance(0.2);
        if !(a[SHADOW] || a[GOATEE] || a[MUSTACHE] || full_beard) {
            a[SHADOW] = true;
        }
        a[SIDEBURNS] = rng.chance(0.35);
    } else if male {
        a[SIDEBURNS] = rng.chance(0.03);
    }
    a[NO_BEARD] = !(a[SHADOW] || a[GOATEE] || a[MUSTACHE] || full_beard);
    a[MAKEUP] = rng.chance(p(MAKEUP, if male { 0.005 } else { 0.64 }));
    a[LIPSTICK] = rng.chance(if male { 0.01 } else if a[MAKEUP] { 0.95 } else { 0.47 });
    a[EARRINGS] = rng.chance(p(EARRINGS, if male { 0.01 } else { 0.31 }));
    a[NECKLACE] = rng.chance(p(NECKLACE, if male { 0.005 } else { 0.2 }));
    a[NECKTIE] = rng.chance(p(NECKTIE, if male { 0.17 } else { 0.003 }));
    a[BLURRY] = rng.chance(p(BLURRY, 0.05));
    // Attractive: a latent judgement of youth, femininity, grooming and proportion.
    let score = 1.3 * a[YOUNG] as i32 as f32 + 0.9 * (!male) as i32 as f32 + 0.5 * (!a[BAGS]) as i32 as f32
        + 0.6 * (!a[CHUBBY]) as i32 as f32
        + 0.3 * a[MAKEUP] as i32 as f32
        + 0.3 * (!a[DOUBLE_CHIN]) as i32 as f32
        + 0.3 * a[OVAL] as i32 as f32
        - 0.4 * a[BIG_NOSE] as i32 as f32
        + rng.normal() as f32 * 0.55;
    a[ATTRACTIVE] = score > 3.05;

    let skin: Color = if a[PALE] {
        pick(rng, &[[250.0, 236.0, 228.0], [246.0, 232.0, 226.0]])
    } else {
        pick(rng, &[[232.0, 190.0, 160.0], [215.0, 165.0, 130.0], [190.0, 140.0, 105.0], [150.0, 100.0, 70.0], [225.0, 180.0, 150.0], [110.0, 75.0, 55.0]])
    };
    let lip_color = if a[LIPSTICK] {
        pick(rng, &[[200.0, 20.0, 45.0], [180.0, 20.0, 90.0], [220.0, 60.0, 90.0], [140.0, 20.0, 40.0]])
    } else {
        [skin[0] * 0.82, skin[1] * 0.62, skin[2] * 0.62]
    };
    let mut face = Face {
        attrs: a,
        skin,
        hair,
        long_hair,
        full_beard,
        sunglasses: rng.chance(0.3),
        hat_color: vivid(rng),
        clothes: vivid(rng),
        tie_color: pick(rng, &[[150.0, 20.0, 30.0], [20.0, 30.0, 110.0], [30.0, 30.0, 30.0], [20.0, 90.0, 40.0]]),
        lip_color,
        shadow_color: [hair[0] * 0.6 + 25.0, hair[1] * 0.6 + 25.0, hair[2] * 0.6 + 30.0],
    };
    if let Some(b) = base {
        face.skin = b.skin;
        face.attrs[PALE] = b.attrs[PALE];
        if !face.attrs[LIPSTICK] {
            face.lip_color = [b.skin[0] * 0.82, b.skin[1] * 0.62, b.skin[2] * 0.62];
        }
        if !face.attrs[BALD] && !b.attrs[BALD] {
            for k in [BLACK, BLOND, BROWN, GRAY] {
                face.attrs[k] = b.attrs[k];
            }
            face.hair = b.hair;
            face.shadow_color = b.shadow_color;
        }
    }
    face
}

fn shade(c: Color, f: f32) -> Color {
    [c[0] * f, c[1] * f, c[2] * f]
}

/// Points on the upper part of an ellipse (above `y_cut`), left to right.
fn upper_arc(cx: f32, cy: f32, rx: f32, ry: f32, y_cut: f32) -> Vec<(f32, f32)> {
    let t0 = ((y_cut - cy) / ry).clamp(-1.0, 1.0).asin(); // angle where the arc meets y_cut
    let mut pts = Vec::with_capacity(26);
    for k in 0..=24 {
        let t = std::f32::consts::PI - t0 + (std::f32::consts::PI + 2.0 * t0) * k as f32 / 24.0;
        pts.push((cx + rx * t.cos(), cy + ry * t.sin()));
    }
    pts
}

fn ellipse_ring(c: &mut Canvas, cx: f32, cy: f32, rx: f32, ry: f32, width: f32, col: Color) {
    let pts: Vec<(f32, f32)> = (0..=28).map(|k| {
        let t = std::f32::consts::TAU * k as f32 / 28.0;
        (cx + rx * t.cos(), cy + ry * t.sin())
    }).collect();
    c.polyline(&pts, width, col, 1.0);
}

/// Renders a face into RGB8 bytes of `width`×`height` (`rng`: this image's own stream).
pub fn render_face(f: &Face, width: usize, height: usize, rng: &mut Rng) -> Vec<u8> {
    let a = &f.attrs;
    let bg: Color = [rng.range(60.0, 230.0), rng.range(60.0, 230.0), rng.range(60.0, 230.0)];
    let mut c = Canvas::new(width, height, DESIGN_W, DESIGN_H, bg);
    // Background clutter, so that colour alone never gives an attribute away.
    for _ in 0..3 {
        let col = [rng.range(30.0, 240.0), rng.range(30.0, 240.0), rng.range(30.0, 240.0)];
        c.ellipse(rng.range(0.0, DESIGN_W), rng.range(0.0, DESIGN_H), rng.range(15.0, 60.0), rng.range(15.0, 60.0), 0.0, col, 0.35);
    }
    let cx = 89.0 + rng.range(-6.0, 6.0);
    let cy = 118.0 + rng.range(-5.0, 5.0);
    let mut rx: f32 = if a[CHUBBY] { 50.0 } else { 43.0 } + rng.range(-1.5, 1.5);
    let mut ry: f32 = 55.0 + rng.range(-1.5, 1.5);
    if a[OVAL] {
        rx -= 3.5;
        ry += 4.0;
    }
    if a[MALE] {
        rx += 2.0;
    }
    let skin = f.skin;
    let skin_dark = shade(skin, 0.85);

    // Shoulders, neck, necktie, necklace.
    c.ellipse(cx, DESIGN_H + 25.0, 95.0, 62.0, 0.0, f.clothes, 1.0);
    let neck_w = if a[MALE] { 0.5 } else { 0.4 } * rx;
    c.rect(cx - neck_w, cy + 0.6 * ry, cx + neck_w, DESIGN_H - 25.0, skin_dark, 1.0);
    c.ellipse(cx, DESIGN_H - 25.0, neck_w, 10.0, 0.0, skin_dark, 1.0);
    if a[NECKTIE] {
        let top = DESIGN_H - 28.0;
        c.polygon(&[(cx - 24.0, top - 4.0), (cx, top + 12.0), (cx - 10.0, top + 20.0)], [240.0, 240.0, 240.0], 1.0);
        c.polygon(&[(cx + 24.0, top - 4.0), (cx, top + 12.0), (cx + 10.0, top + 20.0)], [240.0, 240.0, 240.0], 1.0);
        c.polygon(&[(cx - 6.0, top + 6.0), (cx + 6.0, top + 6.0), (cx + 4.0, top + 14.0), (cx - 4.0, top + 14.0)], f.tie_color, 1.0);
        c.polygon(&[(cx - 4.0, top + 14.0), (cx + 4.0, top + 14.0), (cx + 9.0, DESIGN_H), (cx - 9.0, DESIGN_H)], f.tie_color, 1.0);
    }
    if a[NECKLACE] {
        let gold: Color = if rng.chance(0.5) { [235.0, 200.0, 60.0] } else { [225.0, 225.0, 235.0] };
        for k in 0..11 {
            let t = std::f32::consts::PI * (0.15 + 0.7 * k as f32 / 10.0);
            c.ellipse(cx + neck_w * 1.15 * t.cos(), DESIGN_H - 30.0 + 14.0 * t.sin(), 2.6, 2.6, 0.0, gold, 1.0);
        }
    }

    // Hair behind the head.
    if !a[BALD] {
        if f.long_hair {
            c.ellipse(cx, cy - 8.0, rx * 1.22, ry * 1.12, 0.0, f.hair, 1.0);
            c.rect(cx - rx * 1.22, cy - 8.0, cx + rx * 1.22, cy + ry * 1.05, f.hair, 1.0);
        } else {
            c.ellipse(cx, cy - 0.25 * ry, rx * 1.1, ry * 0.9, 0.0, f.hair, 1.0);
        }
    }
    // Ears and earrings.
    for s in [-1.0f32, 1.0] {
        c.ellipse(cx + s * rx * 0.98, cy - 2.0, 7.0, 12.0, 0.0, skin_dark, 1.0);
        if a[EARRINGS] {
            let gold: Color = [240.0, 205.0, 50.0];
            c.ellipse(cx + s * rx * 0.98, cy + 13.0, 3.8, 3.8, 0.0, gold, 1.0);
            c.ellipse(cx + s * rx * 0.98, cy + 20.0, 2.6, 4.0, 0.0, gold, 1.0);
        }
    }
    // Face: a male jaw is squarer (a second, lower ellipse).
    c.ellipse(cx, cy, rx, ry, 0.0, skin, 1.0);
    if a[MALE] {
        c.ellipse(cx, cy + 0.28 * ry, rx * 0.93, ry * 0.7, 0.0, skin, 1.0);
    }
    if a[DOUBLE_CHIN] {
        c.ellipse(cx, cy + ry * 0.98, rx * 0.5, ry * 0.2, 0.0, skin_dark, 1.0);
        c.polyline(&[(cx - rx * 0.4, cy + ry * 0.95), (cx, cy + ry * 1.04), (cx + rx * 0.4, cy + ry * 0.95)], 1.8, shade(skin, 0.65), 0.9);
    }
    if a[CHUBBY] {
        for s in [-1.0f32, 1.0] {
            c.ellipse(cx + s * rx * 0.55, cy + ry * 0.3, rx * 0.35, ry * 0.3, 0.0, shade(skin, 1.03), 0.8);
        }
    }
    // Blemishes on faces not judged attractive (a subtle texture cue).
    if !a[ATTRACTIVE] {
        for _ in 0..4 {
            c.ellipse(cx + rng.range(-0.6, 0.6) * rx, cy + rng.range(-0.2, 0.6) * ry, 1.6, 1.6, 0.0, shade(skin, 0.78), 0.7);
        }
    }

    // Beards sit on the lower face; mouth and nose are drawn over them.
    if a[SHADOW] {
        c.ellipse(cx, cy + 0.42 * ry, rx * 0.86, ry * 0.55, 0.0, f.shadow_color, 0.32);
    }
    if f.full_beard {
        c.ellipse(cx, cy + 0.5 * ry, rx * 0.95, ry * 0.55, 0.0, shade(f.hair, 0.9), 0.92);
    }
    if a[GOATEE] {
        c.ellipse(cx, cy + 0.8 * ry, rx * 0.24, ry * 0.2, 0.0, shade(f.hair, 0.8), 0.95);
    }
    if a[SIDEBURNS] {
        for s in [-1.0f32, 1.0] {
            c.rect(cx + s * rx * 0.92 - 4.0, cy - 0.25 * ry, cx + s * rx * 0.92 + 4.0, cy + 0.3 * ry, shade(f.hair, 0.85), 0.95);
        }
    }

    let eye_y = cy - 0.12 * ry;
    let eye_dx = 0.42 * rx;
    // Cheeks: cheekbone highlight/shadow (subtle), rosy cheeks and blush.
    for s in [-1.0f32, 1.0] {
        let (chx, chy) = (cx + s * rx * 0.55, cy + 0.18 * ry);
        if a[CHEEKBONES] {
            c.ellipse(chx, chy - 4.0, 10.0, 5.0, s * 0.4, shade(skin, 1.12), 0.7);
            c.ellipse(chx - s * 2.0, chy + 8.0, 9.0, 3.5, s * 0.4, shade(skin, 0.8), 0.6);
        }
        if a[ROSY] {
            c.ellipse(chx, chy, 10.0, 7.0, 0.0, [235.0, 95.0, 110.0], 0.55);
        }
        if a[MAKEUP] {
            c.ellipse(chx, chy + 2.0, 9.0, 6.0, 0.0, [215.0, 120.0, 130.0], 0.3);
        }
    }
    // Eyes, bags, makeup, eyebrows.
    let eye_rx = 0.19 * rx;
    let eye_ry = if a[NARROW_EYES] { 2.3 } else { 4.8 };
    let brow_y = eye_y - 11.0;
    let brow_col = if a[BUSHY] { shade(f.hair, 0.55) } else { shade(f.hair, 0.8) };
    let brow_w = if a[BUSHY] { 4.6 } else { 2.2 };
    let eyeshadow = pick(rng, &[[120.0, 60.0, 150.0], [60.0, 90.0, 170.0], [110.0, 70.0, 50.0]]);
    for s in [-1.0f32, 1.0] {
        let ex = cx + s * eye_dx;
        if a[MAKEUP] {
            c.ellipse(ex, eye_y - 4.0, eye_rx * 1.1, 5.5, 0.0, eyeshadow, 0.6);
        }
        if a[BAGS] {
            c.ellipse(ex, eye_y + eye_ry + 4.0, eye_rx * 0.9, 3.0, 0.0, [120.0, 90.0, 110.0], 0.45);
        }
        c.ellipse(ex, eye_y, eye_rx, eye_ry, 0.0, [245.0, 245.0, 245.0], 1.0);
        c.ellipse(ex, eye_y, eye_ry.min(3.6), eye_ry.min(3.6), 0.0, [40.0, 30.0, 25.0], 1.0);
        if a[MAKEUP] {
            c.line(ex - eye_rx, eye_y - eye_ry * 0.6, ex + eye_rx, eye_y - eye_ry * 0.6, 1.6, [15.0, 15.0, 15.0], 1.0);
        }
        let (x0, x1) = (ex - s * eye_rx * 1.2, ex + s * eye_rx * 1.25);
        let lift = if a[ARCHED] { 5.5 } else { 1.5 };
        c.polyline(&[(x0, brow_y + 1.0), (ex + s * eye_rx * 0.3, brow_y - lift), (x1, brow_y + 3.0)], brow_w, brow_col, 1.0);
    }
    // Age: wrinkles on the forehead and beside the eyes.
    if !a[YOUNG] {
        for k in 0..3 {
            let y = brow_y - 9.0 - 5.0 * k as f32;
            c.line(cx - rx * 0.4, y, cx + rx * 0.4, y, 1.2, shade(skin, 0.72), 0.8);
        }
        for s in [-1.0f32, 1.0] {
            c.line(cx + s * rx * 0.25, cy + 0.15 * ry, cx + s * rx * 0.4, cy + 0.45 * ry, 1.3, shade(skin, 0.72), 0.8);
        }
    }
    // Nose.
    let nose_top = eye_y + 4.0;
    let (nose_w, nose_bottom) = if a[BIG_NOSE] { (0.21 * rx, cy + 0.32 * ry) } else { (0.13 * rx, cy + 0.25 * ry) };
    if a[POINTY_NOSE] {
        c.polygon(&[(cx - 2.0, nose_top), (cx + 2.0, nose_top), (cx + nose_w * 0.7, nose_bottom - 3.0), (cx, nose_bottom + 5.0), (cx - nose_w * 0.7, nose_bottom - 3.0)], shade(skin, 0.78), 1.0);
    } else {
        c.polygon(&[(cx - 2.0, nose_top), (cx + 2.0, nose_top), (cx + nose_w, nose_bottom), (cx - nose_w, nose_bottom)], shade(skin, 0.8), 1.0);
        c.ellipse(cx, nose_bottom - 1.0, nose_w, 3.5, 0.0, shade(skin, 0.72), 1.0);
    }
    // Mustache, then the mouth.
    let mouth_y = cy + 0.5 * ry;
    let mouth_w = if a[SMILING] { 0.36 * rx } else { 0.3 * rx };
    if a[MUSTACHE] {
        c.polygon(&[(cx - mouth_w * 1.1, mouth_y - 2.0), (cx, mouth_y - 10.0), (cx + mouth_w * 1.1, mouth_y - 2.0), (cx, mouth_y - 5.0)], shade(f.hair, 0.75), 1.0);
    }
    let lip = if a[BIG_LIPS] { 3.6 } else { 2.0 };
    let corner = if a[SMILING] { -6.0 } else { 1.0 };
    let open = if a[MOUTH_OPEN] { if a[SMILING] { 6.0 } else { 4.0 } } else { 0.0 };
    if open > 0.0 {
        c.ellipse(cx, mouth_y + open * 0.5, mouth_w * 0.8, open, 0.0, [60.0, 20.0, 25.0], 1.0);
        if a[SMILING] {
            c.rect(cx - mouth_w * 0.55, mouth_y - 0.5, cx + mouth_w * 0.55, mouth_y + 2.5, [245.0, 245.0, 240.0], 1.0);
        }
    }
    let upper = [(cx - mouth_w, mouth_y + corner), (cx - mouth_w * 0.45, mouth_y - 1.0), (cx, mouth_y - 0.5), (cx + mouth_w * 0.45, mouth_y - 1.0), (cx + mouth_w, mouth_y + corner)];
    let sag = if a[SMILING] { 5.0 } else { 1.5 };
    let lower = [(cx - mouth_w, mouth_y + corner), (cx - mouth_w * 0.5, mouth_y + open + sag), (cx, mouth_y + open + sag + 1.0), (cx + mouth_w * 0.5, mouth_y + open + sag), (cx + mouth_w, mouth_y + corner)];
    c.polyline(&upper, lip, f.lip_color, 1.0);
    c.polyline(&lower, lip * 1.2, f.lip_color, 1.0);

    // Hair on top: hairline, bangs, strands; a bald head gets a shine and side tufts.
    let top = cy - ry;
    if a[BALD] {
        c.ellipse(cx - rx * 0.2, top + 12.0, 10.0, 5.0, -0.3, shade(skin, 1.15), 0.6);
        for s in [-1.0f32, 1.0] {
            c.ellipse(cx + s * rx * 0.93, cy - 0.25 * ry, 6.0, 14.0, 0.0, [150.0, 150.0, 150.0], 0.9);
        }
    } else {
        let hairline = if a[RECEDING] { top + 0.42 * ry } else { top + 0.3 * ry };
        let mut cap = upper_arc(cx, cy, rx * 1.06, ry * 1.06, hairline);
        if a[RECEDING] {
            // The M-shape: temples recede further than the middle.
            let n = cap.len();
            cap.insert(n, (cx + rx * 0.35, hairline - 14.0));
            cap.insert(n + 1, (cx, hairline - 2.0));
            cap.insert(n + 2, (cx - rx * 0.35, hairline - 14.0));
        }
        c.polygon(&cap, f.hair, 1.0);
        if a[BANGS] {
            let b = brow_y - 6.0;
            let mut fringe = vec![(cx - rx * 0.9, hairline - 6.0), (cx + rx * 0.9, hairline - 6.0)];
            for k in 0..=8 {
                let x = cx + rx * 0.9 - rx * 1.8 * k as f32 / 8.0;
                fringe.push((x, if k % 2 == 0 { b } else { b - 5.0 }));
            }
            c.polygon(&fringe, f.hair, 1.0);
        }
        let strand = if f.hair[0] + f.hair[1] > 200.0 { shade(f.hair, 0.7) } else { shade(f.hair, 1.6) };
        let span_bottom = if f.long_hair { cy + ry } else { cy - 0.2 * ry };
        for s in [-1.0f32, 1.0] {
            for k in 0..4 {
                let x = cx + s * (rx * 1.02 + 3.0 * k as f32);
                if a[WAVY] {
                    let pts: Vec<(f32, f32)> = (0..=10).map(|i| {
                        let y = top + 10.0 + (span_bottom - top - 10.0) * i as f32 / 10.0;
                        (x + 3.5 * (i as f32 * 1.6).sin(), y)
                    }).collect();
                    c.polyline(&pts, 1.5, strand, 0.9);
                } else if a[STRAIGHT] {
                    c.line(x, top + 12.0, x, span_bottom, 1.3, strand, 0.9);
                }
            }
        }
    }
    // Glasses and hat last: they cover what is under them.
    if a[GLASSES] {
        let frame: Color = [20.0, 20.0, 25.0];
        for s in [-1.0f32, 1.0] {
            let ex = cx + s * eye_dx;
            if f.sunglasses {
                c.ellipse(ex, eye_y, eye_rx * 1.5, 8.5, 0.0, [25.0, 25.0, 35.0], 0.85);
            }
            ellipse_ring(&mut c, ex, eye_y, eye_rx * 1.5, 8.5, 2.6, frame);
            c.line(ex + s * eye_rx * 1.5, eye_y - 2.0, cx + s * rx * 0.98, eye_y - 4.0, 2.2, frame, 1.0);
        }
        c.line(cx - eye_dx + eye_rx * 1.5, eye_y - 1.0, cx + eye_dx - eye_rx * 1.5, eye_y - 1.0, 2.2, frame, 1.0);
    }
    if a[HAT] {
        let crown = upper_arc(cx, cy - 0.1 * ry, rx * 1.12, ry * 1.05, top + 0.3 * ry);
        c.polygon(&crown, f.hat_color, 1.0);
        c.rect(cx - rx * 1.45, top + 0.22 * ry, cx + rx * 1.45, top + 0.36 * ry, shade(f.hat_color, 0.8), 1.0);
    }

    // Camera: light, colour cast, blur, sensor noise.
    let gain = rng.range(0.8, 1.15);
    let cast = [gain * rng.range(0.95, 1.05), gain * rng.range(0.95, 1.05), gain * rng.range(0.95, 1.05)];
    if a[BLURRY] {
        c.blur(3.2);
    }
    c.grade(cast, 3.0, rng);
    c.to_rgb8()
}

/// The attribute row of a face as ±1 values.
pub fn as_pm1(attrs: &[bool; 40]) -> [i8; 40] {
    std::array::from_fn(|i| if attrs[i] { 1 } else { -1 })
}

/// Flips each attribute with its own probability (`label_noise` × [`NOISE_SCALE`]).
pub fn noisy(attrs: &[bool; 40], label_noise: f32, rng: &mut Rng) -> [bool; 40] {
    std::array::from_fn(|i| attrs[i] ^ rng.chance((label_noise * NOISE_SCALE[i]).min(0.5)))
}

pub fn attribute_names() -> &'static [&'static str; 40] {
    &ATTRIBUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_rates_and_correlations_look_like_celeba() {
        let mut rng = Rng::new(1);
        let n = 20000;
        let faces: Vec<Face> = (0..n).map(|_| sample_face(&mut rng, None, &Rates::default())).collect();
        let rate = |i: usize| faces.iter().filter(|f| f.attrs[i]).count() as f32 / n as f32;
        // (attribute, CelebA positive rate)
        for (i, want) in [(MALE, 0.417), (YOUNG, 0.774), (NO_BEARD, 0.835), (SMILING, 0.482), (LIPSTICK, 0.472), (HAT, 0.048), (BALD, 0.022), (ATTRACTIVE, 0.513), (MAKEUP, 0.387), (GLASSES, 0.065)] {
            assert!((rate(i) - want).abs() < 0.06, "{} rate {} vs CelebA {want}", ATTRIBUTES[i], rate(i));
        }
        for f in &faces {
            let a = &f.attrs;
            assert!(!(a[BALD] && (a[BLACK] || a[BLOND] || a[BROWN] || a[GRAY])));
            assert!(!(a[NO_BEARD] && (a[GOATEE] || a[MUSTACHE] || a[SHADOW])));
            assert!(!(a[WAVY] && a[STRAIGHT]));
        }
        let male_lipstick = faces.iter().filter(|f| f.attrs[MALE] && f.attrs[LIPSTICK]).count() as f32 / faces.iter().filter(|f| f.attrs[MALE]).count() as f32;
        assert!(male_lipstick < 0.03);
    }

    #[test]
    fn a_rate_override_changes_that_attribute_and_nothing_else() {
        let n = 4000;
        let rates = Rates(vec![(HAT, 0.3), (NARROW_EYES, 0.25)]);
        let (mut a, mut b) = (Rng::new(5), Rng::new(5));
        let plain: Vec<Face> = (0..n).map(|_| sample_face(&mut a, None, &Rates::default())).collect();
        let over: Vec<Face> = (0..n).map(|_| sample_face(&mut b, None, &rates)).collect();
        let rate = |fs: &[Face], i: usize| fs.iter().filter(|f| f.attrs[i]).count() as f32 / n as f32;
        assert!((rate(&over, HAT) - 0.3).abs() < 0.03 && rate(&plain, HAT) < 0.08);
        assert!((rate(&over, NARROW_EYES) - 0.25).abs() < 0.03);
        for (p, o) in plain.iter().zip(&over) {
            for i in (0..40).filter(|&i| i != HAT && i != NARROW_EYES) {
                assert_eq!(p.attrs[i], o.attrs[i], "{} changed", ATTRIBUTES[i]);
            }
            assert_eq!((p.skin, p.hat_color), (o.skin, o.hat_color), "the draws stay in step");
        }
    }
}
