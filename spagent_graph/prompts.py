"""Every prompt the MLLM sees. Nothing else lives here."""

SYSTEM = (
    "You are the planner of a video generation agent. You read a user's request (text, an image, "
    "a video, or text with an image or video) and answer only with JSON that fits the given schema."
)

TYPES_AND_SUBJECT = """Classify the user's inputs and the subject of the video they want.

- text_type: "natural language text" if the user wrote text, otherwise "None".
- visual_type: "None" if no picture or video is attached; "single image" for one picture;
  "video" for a video, an animation, or one picture made of several pictures side by side.
- subject: the main subject of the video to generate, one of sports, transportation, people,
  animals, objects, landscapes.

User text: {text}
Attached visual input: {visual}"""

_ALIGNMENT_RULE = """Answer "Yes" only if the text describes what is already shown (same objects, colours, scene,
style). Answer "No" if the text asks for something different from what is shown, for example
another colour, object, background or style: then the user wants an edit."""

ALIGNMENT = """Does the user's text describe the same content as the attached visual input?

""" + _ALIGNMENT_RULE + """

User text: {text}"""

_SUBJECTS = "sports, transportation, people, animals, objects, landscapes"

# The default planner's one question: only what neither the files nor the route rules settle.
SUBJECT = """Name the subject of the video the user wants: the main thing it is about, one of
""" + _SUBJECTS + """.

User text: {text}
Attached visual input: {visual}"""

SUBJECT_AND_ALIGNMENT = """Name the subject of the video the user wants: the main thing it is about, one of
""" + _SUBJECTS + """.
Then say whether the user's text describes the same content as the attached visual input
(aligned). """ + _ALIGNMENT_RULE + """

User text: {text}
Attached visual input: {visual}"""

_ROUTE_RULES = """Tasks: text_to_video, text_to_image, image_to_image, image_to_video, video_to_video.
Each task's output feeds the next task. Rules:
- with no visual input, start with text_to_video, or with text_to_image then image_to_video;
- with a video input, use video_to_video;
- with an image that matches the text (or no text), use image_to_video;
- with an image that does not match the text, use image_to_image then image_to_video.

Input: text={text_type}; visual={visual_type}; text matches visual={aligned}; subject={subject}.
"""

NEXT_TASK = """Plan a route of generation tasks that ends in a video.

""" + _ROUTE_RULES + """{alternative}Route so far: {route_so_far}.
Name the next task, or "done" if the route already ends in a video."""

WHOLE_ROUTE = """Plan a route of generation tasks that ends in a video, all at once.

""" + _ROUTE_RULES + """{alternative}List the tasks of the route in order."""

SECOND_ROUTE_HINT = "This is the second of two routes; where the rules allow two routes, pick the other one.\n"

JUDGE = """Score this generated video (its frames are attached in order) for the user's request.

User text: {text}
{visual_note}
Give each of these from 1 (very poor) to 10 (excellent):
- visual_aesthetics: composition, colour, sharpness, absence of artefacts;
- physical_plausibility: whether motion and objects behave as they would in the real world;
- visual_alignment: whether what is shown matches the request (text and visual input);
- motion_alignment: whether the motion matches what the request implies.
Then an overall score from 1 to 20 that weighs all four, and a one-sentence rationale."""
