"""The README.txt that ``surg-perception synth`` writes next to its dataset."""

README = """Synthetic surgical video dataset (surg_perception synth), EndoVis 2017 layout.

instrument_dataset_<k>/left_frames/frame<NNN>.png       RGB frames, {width}x{height}
instrument_dataset_<k>/right_frames/frame<NNN>.png      right eye (only with --stereo)
instrument_dataset_<k>/ground_truth/<Name>_labels/frame<NNN>.png
    one grey mask per instrument, visible pixels only (occlusion applied):
    0 background, 10 shaft, 20 wrist, 30 claspers; the jawless "Other" tube
    (Other_labels) has no wrist: 10 shaft, 30 its tip
instrument_dataset_<k>/vqla/label/frame<NNN>.txt
    per instrument 'What is the state of <tool>?|<Activity>|x1,y1,x2,y2' and
    'Where is <tool> located?|<left/right-top/bottom or out-of-view>|x1,y1,x2,y2'
    (box 1-based inclusive in the 1280x1024 view, as released VQLA files; 0,0,0,0 when
     not visible)
instrument_dataset_<k>/synth_gt.jsonl
    one JSON object per frame: 3D tool tip (left camera optical frame: x right,
    y down, z forward, metres), its pixel position in each eye, visibility, shaft
    axis (3D point + unit direction, 2D line), jaw opening (rad), type id, folder,
    activity; see surg_perception/data/synth_gt.py
manifest.json
    seed, size, instruments per sequence, frames per activity, and per eye a
    camera_info record (plumb_bob, d = 0, k, r = I, p; right p[0][3] = -fx * B),
    baseline B = 5 mm, 70 degree horizontal field of view (rectified pair)

Activities (the VQLA vocabulary; at most ONE instrument acts in any frame, the
others keep still and answer Idle; the frame's activity is the acting one's, and
the acting instrument's tip is in view; phases last 6-16 frames):
    Idle                 no instrument moves (the endoscope may pan/zoom, sometimes
                         away from every instrument: frames without instruments)
    Grasping             open jaws move onto the tissue and close on it
    Retraction           jaws closed on tissue, pulled back and up: the tissue is
                         lifted with them
    Tissue_Manipulation  open jaws press onto the tissue and sweep it sideways
    Cutting              scissors only: blades open on the tissue and close; an
                         incision appears
    Cauterization        bipolar forceps, vessel sealer, scissors: tip on tissue,
                         smoke rises, a char mark grows
    Suction              the Other (suction) tube: tip in a blood pool that shrinks

seed {seed}, {sequences} sequence(s) x {frames} frame(s), at most {max_instruments} instrument(s).
Regenerate: surg-perception synth OUT --sequences {sequences} --frames {frames} \\
    --size {height} {width} --seed {seed} --max-instruments {max_instruments}{stereo}
"""
